"""Data quality: Great Expectations suites (as code) on raw and staging tables, dbt test
results, freshness, rejections and silent restaurants, stored in ``forecast.dq_results``.

Measures and stores; never decides. The gate that reads these results is a rule in
``agents/rules.py``. Imports ``frycast`` and ``warehouse`` only."""
