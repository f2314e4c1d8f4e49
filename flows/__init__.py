"""Prefect flows: the pipeline (validate, build, forecast, review, publish), its tasks (thin:
each calls one room) and deployments with their schedules.

Orchestrates; holds no statistics, SQL or rules of its own. Prefect reads its settings once,
when it is first imported, so the defaults below are set here, before any flow module imports
it (the no-telemetry ones are set by ``frycast``, imported first)."""

import os

import frycast  # noqa: F401  (sets the no-telemetry defaults before Prefect is imported)

# Without PREFECT_API_URL each run starts a temporary Prefect server; Prefect gives it 20 s, which
# a busy 2-core machine can miss (seen here): the run then fails outright.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
