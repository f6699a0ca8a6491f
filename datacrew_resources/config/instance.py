"""`datacrew.yaml` `instance:`: where Dagster keeps runs and events, how runs are queued, where the catalog lives."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .validators import env_alternative

POSTGRES_SCHEMES = ("postgresql", "postgres")
# Dagster's storage goes through SQLAlchemy, which may also name the driver.
DAGSTER_POSTGRES_SCHEMES = (*POSTGRES_SCHEMES, "postgresql+psycopg2")


def postgres_url(value: str | None, schemes: tuple[str, ...] = POSTGRES_SCHEMES) -> str | None:
    if value is not None and (urlsplit(value).scheme not in schemes or not urlsplit(value).hostname):
        raise ValueError("must be a postgresql://user@host:5432/db URL")
    return value


class InstanceConfig(BaseModel):
    """Unset storage means Dagster's SQLite files inside `$DAGSTER_HOME`; a URL (or the name of
    an env var holding one) puts runs, event logs and schedules in PostgreSQL (`dagster-postgres`).
    `queued` (Dagster's default) holds runs in a queue the daemon drains under
    `max_concurrent_runs` and the roster's per-agent limits; `immediate` launches on submit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage_url: str | None = Field(default=None, description="postgresql://... for Dagster's storage")
    storage_url_env: str | None = Field(
        default=None, description="name of the env var holding that URL (when it holds a password)"
    )
    run_coordinator: Literal["queued", "immediate"] = "queued"
    max_concurrent_runs: int | None = Field(
        default=None, ge=-1, description="runs in progress at once (Dagster's default 10; -1: no limit)"
    )
    catalog_url: str | None = Field(
        default=None, description="postgresql://... for the catalog store; unset: state/catalog.sqlite"
    )

    _catalog_url = field_validator("catalog_url")(postgres_url)

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        return postgres_url(value, DAGSTER_POSTGRES_SCHEMES)

    _one_storage = field_validator("storage_url_env")(env_alternative("storage_url"))

    @field_validator("max_concurrent_runs")
    @classmethod
    def _queued_only(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("run_coordinator") != "queued":
            raise ValueError("only applies to run_coordinator 'queued'")
        return value
