"""The shared core's environment helper: what a block sets, or a library writes, is undone."""

from __future__ import annotations

import os

import pytest

from frycast.settings import PROJECT_ROOT, Settings, kept_environ


def test_kept_environ_puts_back_set_and_unset_keys_even_after_an_error(monkeypatch):
    monkeypatch.setenv("FRYCAST_T_SET", "before")
    monkeypatch.delenv("FRYCAST_T_UNSET", raising=False)
    with pytest.raises(RuntimeError), kept_environ(["FRYCAST_T_WRITTEN"], {"FRYCAST_T_SET": "x"}):
        assert os.environ["FRYCAST_T_SET"] == "x"
        os.environ["FRYCAST_T_UNSET"] = "a library wrote this"  # not in keys: stays
        os.environ["FRYCAST_T_WRITTEN"] = "and this"  # in keys: undone
        raise RuntimeError
    assert os.environ["FRYCAST_T_SET"] == "before"
    assert "FRYCAST_T_WRITTEN" not in os.environ
    assert os.environ.pop("FRYCAST_T_UNSET") == "a library wrote this"


def test_the_env_file_is_the_projects_wherever_the_command_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("FRYCAST_SEED=99\n")  # a stray .env in the cwd is not read
    monkeypatch.delenv("FRYCAST_SEED", raising=False)
    assert Settings.model_config["env_file"] == PROJECT_ROOT / ".env"
    if not (PROJECT_ROOT / ".env").exists():
        assert Settings().seed == 0
