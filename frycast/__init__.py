"""frycast's thin shared core: the one settings object, the hierarchy's levels and stage timing.

Every other room imports from here; this package imports none of them (tests/test_rooms.py).
Importing it sets the no-telemetry defaults, so every path a user runs directly — the CLI, a
flow, the dashboard, a benchmark — sends nothing home, whichever module it starts from."""

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# MLflow 3 reads DO_NOT_TRACK only when it is "true" (mlflow/telemetry/utils.py), not "1": its
# own switch, for the client and for `frycast mlflow-ui`'s server and UI
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
