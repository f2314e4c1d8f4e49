"""The one place frycast reads its configuration: environment variables (and a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Typed settings; read once with :func:`get_settings` and passed around."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Warehouse URL. Unset: start the embedded Postgres under warehouse_dir.",
    )
    warehouse_dir: Path = Field(default=PROJECT_ROOT / ".warehouse", alias="FRYCAST_WAREHOUSE_DIR")
    embedded_port: int = Field(default=55432, alias="FRYCAST_EMBEDDED_PORT")
    embedded_database: str = Field(default="frycast", alias="FRYCAST_EMBEDDED_DATABASE")
    dbt_project_dir: Path = Field(default=PROJECT_ROOT / "dbt_project", alias="FRYCAST_DBT_DIR")
    dbt_threads: int = Field(default=2, alias="FRYCAST_DBT_THREADS")
    infra_sql_dir: Path = PROJECT_ROOT / "infra" / "sql"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
