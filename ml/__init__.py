"""Forecasting: the panel, models, backtests, selection, intervals, reconciliation, drivers and
drift statistics, on numpy / pandas arrays handed to it.

Pure computation: imports nothing of the warehouse, the flows or the agents, only ``frycast``
(settings, stage timing); what it needs from PostgreSQL arrives as a ``Panel`` or a frame built by
``warehouse/``, and what it returns is written back by the flows."""
