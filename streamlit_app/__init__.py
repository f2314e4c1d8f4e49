"""The dashboard: Streamlit pages over the marts, as the read-only login.

Reads ``marts.*`` only and computes nothing a planner would need to query too (that is a dbt
model); imports ``frycast``, ``warehouse.db`` and ``ml``'s names of models and levels."""
