"""The one place frycast reads its configuration: environment variables (and a `.env` file)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from frycast.levels import FRYCAST_LEVELS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# FRYCAST_SNAPSHOTS also takes on/off words
_SWITCH_WORDS = dict.fromkeys(("on", "true", "1", "yes"), "auto") | dict.fromkeys(
    ("false", "0", "no"), "off"
)


class Settings(BaseSettings):
    """Typed settings; read once with :func:`get_settings` and passed around."""

    # the project's .env wherever the command runs from (a cwd-relative .env was read only
    # when started from the checkout)
    model_config = SettingsConfigDict(env_file=PROJECT_ROOT / ".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Warehouse URL. Unset: start the embedded Postgres under warehouse_dir.",
    )
    # The logins frycast connects as (warehouse.db): DATABASE_URL's user bootstraps roles and
    # schemas; the pipeline writes as frycast_owner (not a superuser); the dashboard, the agents'
    # tools and the docs read as frycast_reader, a login that cannot write.
    owner_password: str | None = Field(default=None, alias="FRYCAST_OWNER_PASSWORD", repr=False)
    reader_password: str | None = Field(default=None, alias="FRYCAST_READER_PASSWORD", repr=False)
    reader_url: str | None = Field(
        default=None,
        alias="FRYCAST_READER_URL",
        repr=False,
        description="The read-only login's URL (default: DATABASE_URL's server as frycast_reader)",
    )
    reader_timeout_ms: int = Field(default=30_000, alias="FRYCAST_READER_TIMEOUT_MS")
    # planners' adjustments (issue 22): a login that may insert overrides and nothing else
    planner_password: str | None = Field(default=None, alias="FRYCAST_PLANNER_PASSWORD", repr=False)
    planner_url: str | None = Field(
        default=None,
        alias="FRYCAST_PLANNER_URL",
        repr=False,
        description="The planner login's URL (default: DATABASE_URL's server as frycast_planner)",
    )
    warehouse_dir: Path = Field(default=PROJECT_ROOT / ".warehouse", alias="FRYCAST_WAREHOUSE_DIR")
    embedded_port: int = Field(default=55432, alias="FRYCAST_EMBEDDED_PORT")
    embedded_database: str = Field(default="frycast", alias="FRYCAST_EMBEDDED_DATABASE")
    dbt_project_dir: Path = Field(default=PROJECT_ROOT / "dbt_project", alias="FRYCAST_DBT_DIR")
    dbt_threads: int = Field(default=2, alias="FRYCAST_DBT_THREADS")
    # A dbt statement waits this long for a lock (a reader's open transaction on a mart) before
    # it gives up; the build is then retried, so a reader can stall it (and the readers queued
    # behind its lock request) for seconds, never for good. The reader's idle transactions end
    # after 60 s (infra/sql/01_roles_schemas.sql): the default retries outlast that.
    dbt_lock_timeout_ms: int = Field(default=10_000, ge=1, alias="FRYCAST_DBT_LOCK_TIMEOUT_MS")
    dbt_lock_retries: int = Field(default=3, ge=0, alias="FRYCAST_DBT_LOCK_RETRIES")
    dbt_lock_retry_delay_s: float = Field(default=5.0, ge=0, alias="FRYCAST_DBT_LOCK_RETRY_DELAY")
    infra_sql_dir: Path = PROJECT_ROOT / "infra" / "sql"

    # forecasting (ml/ via flows/)
    horizon_days: int = Field(default=365, alias="FRYCAST_HORIZON_DAYS")
    backtest_folds: int = Field(default=3, alias="FRYCAST_BACKTEST_FOLDS")
    fold_horizon: int = Field(default=365, alias="FRYCAST_FOLD_HORIZON")
    fold_step: int | None = Field(
        default=None,
        alias="FRYCAST_FOLD_STEP",
        description="Days between fold origins; unset: the fold horizon (test windows do not "
        "overlap) where the history holds two such folds, else 91 (ml.backtest.fold_step)",
    )
    stale_after_days: int = Field(
        default=28,
        ge=0,
        alias="FRYCAST_STALE_AFTER_DAYS",
        description="A restaurant whose data ends more than this many days before the latest "
        "restaurant's is not forecast from the common origin: it is named on the Runs page and in "
        "the data-quality review (forecast it on its own with --restaurant, or bridge its gap "
        "with FRYCAST_STALE_RESTAURANTS=forecast)",
    )
    stale_restaurants: Literal["skip", "forecast"] = Field(
        default="skip",
        alias="FRYCAST_STALE_RESTAURANTS",
        description="skip: a stale restaurant is left out of the run (named on the Runs page); "
        "forecast: it is forecast from the common origin, its missing days (up to a year) "
        "bridged with its own weekday means, never scored, and flagged in marts.fct_forecast "
        "(data_ends_on, history_gap_days)",
    )
    models: str = Field(
        default="snaive,weekday_mean,ets,theta,lightgbm,xgboost,tsb,adida,imapa",
        alias="FRYCAST_MODELS",
        description="Comma-separated; also available: snaive_yearly, arima, prophet (slower).",
    )
    seed: int = Field(default=0, alias="FRYCAST_SEED")
    n_jobs: int = Field(default=2, alias="FRYCAST_N_JOBS")
    reconciler: str = Field(
        default="auto",
        alias="FRYCAST_RECONCILER",
        description="auto (each run chooses among mint_shrink, wls_var and bottom_up on its "
        "backtests, never one that makes the bottom level worse than its base), or one of "
        "mint_shrink, wls_var, wls_struct, ols, bottom_up, top_down; none: no reconciliation",
    )
    hierarchy_levels: str | None = Field(
        default=None,
        alias="FRYCAST_HIERARCHY_LEVELS",
        description="Comma-separated aggregate levels to forecast and reconcile (default: all of "
        f"{', '.join(name for name, _ in FRYCAST_LEVELS)})",
    )
    pipeline_cron: str = Field(default="0 3 * * 1", alias="FRYCAST_PIPELINE_CRON")  # Mon 03:00
    drift_cron: str = Field(default="0 6 * * *", alias="FRYCAST_DRIFT_CRON")  # daily 06:00
    overrides_apply_every_s: int = Field(
        default=300,
        ge=30,
        alias="FRYCAST_OVERRIDES_EVERY",
        description="Seconds between checks for new planners' overrides under `frycast serve` "
        "(each applies them to the served run when one was saved since)",
    )
    # Claude agents (agents/): live when ANTHROPIC_API_KEY is set, a deterministic review otherwise
    anthropic_api_key: str | None = Field(default=None, alias="ANTHROPIC_API_KEY", repr=False)
    agent_model: str = Field(default="claude-opus-4-6", alias="FRYCAST_AGENT_MODEL")
    subagent_model: str = Field(default="claude-sonnet-4-6", alias="FRYCAST_SUBAGENT_MODEL")
    agent_max_steps: int = Field(default=12, alias="FRYCAST_AGENT_MAX_STEPS")
    agent_max_tokens: int = Field(
        default=16_000,
        alias="FRYCAST_AGENT_MAX_TOKENS",
        description="Output room of one step, adaptive thinking included (it counts toward it); "
        "a step cut off is asked again with twice the room, up to 64,000",
    )
    agent_timeout_s: float = Field(
        default=120.0,
        alias="FRYCAST_AGENT_TIMEOUT",
        description="Seconds a streamed response may go without a byte (the API pings while it "
        "thinks): a limit on silence, not on how long a review takes",
    )
    agent_retries: int = Field(
        default=3,
        alias="FRYCAST_AGENT_RETRIES",
        description="Retries of a failed request (the SDK's backoff and retry-after)",
    )
    agent_prices: dict[str, tuple[float, float]] = Field(
        # "Pricing" (platform.claude.com/docs/en/about-claude/pricing), 2026-12: US dollars per
        # million input and output tokens; cache writes and reads priced from the input's
        default={"claude-opus-4-6": (5.0, 25.0), "claude-sonnet-4-6": (3.0, 15.0)},
        alias="FRYCAST_AGENT_PRICES",
        description="JSON: model -> [input, output] US dollars per million tokens, for the cost "
        "each review reports (a model without a price reports no cost, not zero)",
    )
    agent_run_token_budget: int = Field(
        default=500_000,
        alias="FRYCAST_AGENT_RUN_TOKEN_BUDGET",
        description="Tokens (input, cached input and output) all of a run's reviews may use; "
        "past it the rules decide",
    )
    agent_sql_timeout_ms: int = Field(default=5000, alias="FRYCAST_AGENT_SQL_TIMEOUT_MS")
    agent_sql_row_limit: int = Field(default=200, alias="FRYCAST_AGENT_SQL_ROW_LIMIT")
    agent_sql_byte_limit: int = Field(default=64_000, alias="FRYCAST_AGENT_SQL_BYTE_LIMIT")
    apply_feature_advice: bool = Field(
        default=False,
        alias="FRYCAST_APPLY_FEATURE_ADVICE",
        description="Apply the feature advisor's allow-listed changes from the last published run",
    )
    # where the dashboard links to
    prefect_ui_url: str = Field(default="http://127.0.0.1:4200", alias="FRYCAST_PREFECT_UI_URL")
    mlflow_ui_url: str = Field(default="http://127.0.0.1:5000", alias="FRYCAST_MLFLOW_UI_URL")
    dbt_docs_url: str = Field(default="http://127.0.0.1:8080", alias="FRYCAST_DBT_DOCS_URL")
    # LSTM / TFT (the neural extra): what one fit may cost on 2 cores (ml.models.neural)
    neural_max_steps: int = Field(
        default=200, ge=1, alias="FRYCAST_NEURAL_MAX_STEPS", description="optimiser steps per fit"
    )
    neural_max_minutes: float = Field(
        default=10.0, gt=0, alias="FRYCAST_NEURAL_MAX_MINUTES", description="wall time per fit"
    )
    neural_batch_size: int = Field(default=64, ge=1, alias="FRYCAST_NEURAL_BATCH_SIZE")
    neural_hidden_size: int = Field(default=16, ge=2, alias="FRYCAST_NEURAL_HIDDEN_SIZE")
    neural_encoder_days: int = Field(default=56, ge=7, alias="FRYCAST_NEURAL_ENCODER_DAYS")
    neural_patience: int = Field(
        default=3,
        ge=1,
        alias="FRYCAST_NEURAL_PATIENCE",
        description="validations without improvement before training stops",
    )
    tune_trials: int = Field(default=0, alias="FRYCAST_TUNE_TRIALS")
    tune_timeout_s: int = Field(default=600, alias="FRYCAST_TUNE_TIMEOUT")
    # distributed fits (flows/distributed.py): a Dask scheduler, or a local cluster of N workers
    dask_address: str | None = Field(default=None, alias="FRYCAST_DASK_ADDRESS")
    dask_workers: int = Field(default=0, alias="FRYCAST_DASK_WORKERS")
    global_partitions: int = Field(
        default=1,
        ge=1,
        alias="FRYCAST_GLOBAL_PARTITIONS",
        description="LightGBM/XGBoost: one model per block of restaurants (spreads over workers)",
    )
    drivers: bool = Field(
        default=True,
        alias="FRYCAST_DRIVERS",
        description="explain the global models' forecasts (marts.fct_forecast_drivers, TreeSHAP)",
    )

    # MLflow: tracking store in the warehouse (schema mlflow) unless MLFLOW_TRACKING_URI is set;
    # artifacts on local disk, or S3/MinIO when MLFLOW_S3_ENDPOINT_URL is set.
    mlflow_tracking_uri: str | None = Field(default=None, alias="MLFLOW_TRACKING_URI")
    mlflow_s3_endpoint_url: str | None = Field(default=None, alias="MLFLOW_S3_ENDPOINT_URL")
    mlflow_artifact_root: str | None = Field(default=None, alias="FRYCAST_MLFLOW_ARTIFACTS")
    mlflow_s3_bucket: str = Field(default="frycast-mlflow", alias="FRYCAST_MLFLOW_BUCKET")
    mlflow_experiment: str = Field(default="frycast-forecast", alias="FRYCAST_MLFLOW_EXPERIMENT")

    # S3 / MinIO (MLflow's artifacts and the published forecast snapshots). boto3 reads the AWS_*
    # variables itself; they are settings too so that a `.env` file works (see warehouse.s3).
    aws_access_key_id: str | None = Field(default=None, alias="AWS_ACCESS_KEY_ID", repr=False)
    aws_secret_access_key: str | None = Field(
        default=None, alias="AWS_SECRET_ACCESS_KEY", repr=False
    )
    aws_default_region: str | None = Field(default=None, alias="AWS_DEFAULT_REGION")
    # Published forecast snapshots (warehouse.snapshots): Parquet + manifest per published run.
    snapshots: Literal["auto", "s3", "local", "off"] = Field(
        default="auto",
        alias="FRYCAST_SNAPSHOTS",
        description="auto: S3 when MLFLOW_S3_ENDPOINT_URL is set, else local; s3; local; off",
    )
    snapshot_bucket: str = Field(default="frycast-snapshots", alias="FRYCAST_SNAPSHOT_BUCKET")
    snapshot_dir: Path | None = Field(
        default=None,
        alias="FRYCAST_SNAPSHOT_DIR",
        description="Local snapshots' folder (default: <warehouse_dir>/snapshots)",
    )

    @field_validator("snapshots", mode="before")
    @classmethod
    def _switch(cls, value):
        """on, true, 1, yes mean auto; false, 0, no mean off."""
        word = str(value).strip().lower()
        return _SWITCH_WORDS.get(word, word)

    @property
    def level_names(self) -> tuple[str, ...] | None:
        if not self.hierarchy_levels:
            return None
        return tuple(x.strip() for x in self.hierarchy_levels.split(",") if x.strip())

    def neural_params(self) -> dict:
        """The training budget of the LSTM and TFT (ml.models.neural.NeuralBudget's fields)."""
        return {
            "max_steps": self.neural_max_steps,
            "max_minutes": self.neural_max_minutes,
            "batch_size": self.neural_batch_size,
            "hidden_size": self.neural_hidden_size,
            "encoder_days": self.neural_encoder_days,
            "patience": self.neural_patience,
        }

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.strip() for m in self.models.split(",") if m.strip())

    def artifact_root(self) -> str:
        """Where MLflow stores artifacts: explicit, else S3 when an endpoint is set, else local."""
        if self.mlflow_artifact_root:
            return self.mlflow_artifact_root
        if self.mlflow_s3_endpoint_url:
            return f"s3://{self.mlflow_s3_bucket}/artifacts"
        return (self.warehouse_dir / "mlartifacts").resolve().as_uri()

    def snapshot_root(self) -> str | None:
        """Where published runs' snapshots go: ``s3://<bucket>/snapshots`` when S3 is configured
        (FRYCAST_SNAPSHOTS=s3, or auto with MLFLOW_S3_ENDPOINT_URL set), else a local folder's
        ``file://`` URI; None when FRYCAST_SNAPSHOTS=off."""
        if self.snapshots == "off":
            return None
        if self.snapshots == "s3" or (self.snapshots == "auto" and self.mlflow_s3_endpoint_url):
            return f"s3://{self.snapshot_bucket}/snapshots"
        return (self.snapshot_dir or self.warehouse_dir / "snapshots").resolve().as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


@contextmanager
def kept_environ(keys: Iterable[str], updates: dict[str, str] | None = None) -> Iterator[None]:
    """Set ``updates`` (if any) for the block, then put every one of ``keys`` and ``updates``
    back as it was, unset ones unset: for libraries that read, or write, the process
    environment (dbt's profile, MLflow's URIs)."""
    names = set(keys) | set(updates or {})
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(updates or {})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
