"""Getting data into raw.*: the synthetic chain, CSV importers and batch bookkeeping.

Every row lands by COPY (``warehouse.copy``); bad lines are kept with reasons, never a
traceback. Imports ``frycast`` and ``warehouse``; transforms nothing (that is dbt)."""
