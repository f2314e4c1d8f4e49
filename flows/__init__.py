"""Prefect flows and the `frycast` command line.

Prefect reads its settings once, when it is first imported, so the defaults below are set here,
before any flow module imports it."""

import os

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# Without PREFECT_API_URL each run starts a temporary Prefect server; Prefect gives it 20 s, which
# a busy 2-core machine can miss (seen here): the run then fails outright.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
