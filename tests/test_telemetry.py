"""Nothing is sent home: importing frycast turns off each library's telemetry, asked of the
library itself, in a process without the CI or pytest variables libraries also look for."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = """
import frycast
from mlflow.telemetry.utils import is_telemetry_disabled
from prefect.settings import PREFECT_SERVER_ANALYTICS_ENABLED
import os
print(is_telemetry_disabled(), PREFECT_SERVER_ANALYTICS_ENABLED.value(),
      os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"])
"""
NOT_CI = ("CI", "PYTEST_CURRENT_TEST", "GITHUB_ACTIONS")
DEFAULTS = ("DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY", "DBT_SEND_ANONYMOUS_USAGE_STATS")


def test_importing_frycast_turns_every_librarys_telemetry_off():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in NOT_CI + DEFAULTS and not k.startswith("PREFECT_SERVER_ANALYTICS")
    }
    out = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "False", "false"]
