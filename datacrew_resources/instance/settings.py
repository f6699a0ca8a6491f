"""The Dagster instance settings (`dagster.yaml`) a home's `datacrew.yaml` asks for.

Storage is Dagster's SQLite files unless `instance.storage_url` (or `storage_url_env`, or
`DATACREW_INSTANCE_URL`) names PostgreSQL: then runs, event logs and schedules all go there
through `dagster-postgres`. A URL given by env var is written as `{env: NAME}`, so the
password stays out of the file and every Dagster process reads it from its own environment;
that URL must then name the driver itself (`postgresql+psycopg2://`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.instance import POSTGRES_SCHEMES
from datacrew_resources.config.platform import PlatformConfig
from datacrew_resources.delegation.backend import redact

from .concurrency import WAREHOUSE_POOL_SIZE, agent_tag_limits

INSTANCE_FILE = "dagster.yaml"
STORAGE_URL_ENV = "DATACREW_INSTANCE_URL"
# The first line of every file datacrew writes: only such a file is ever replaced.
MARKER = "# Written by datacrew"
_HEADER = f"""\
{MARKER} from datacrew.yaml (`instance:`, the agents' capacity): edit that file instead;
# datacrew rewrites this one when they differ (`datacrew instance` prints it).
"""

_COORDINATORS = {"queued": "QueuedRunCoordinator", "immediate": "DefaultRunCoordinator"}


# SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, whose server-side parameters
# dagster-postgres's `NOTIFY run_events, :id` cannot use: its driver is psycopg2.
DAGSTER_DRIVER = "postgresql+psycopg2"


def dagster_postgres_url(url: str) -> str:
    """The URL with psycopg2 named as its driver."""
    scheme, rest = url.split("://", 1)
    return f"{DAGSTER_DRIVER}://{rest}" if scheme in POSTGRES_SCHEMES else url


def _from_env(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """`{env: NAME}`; a value set here is checked now, since Dagster reads it as it is."""
    value = env.get(name)
    if value and not value.startswith(f"{DAGSTER_DRIVER}://"):
        raise ConfigError(f"must name the driver ({DAGSTER_DRIVER}://...): dagster-postgres needs psycopg2",
                          field=f"${name}", value=redact(value))
    return {"env": name}


def _storage_url(config: PlatformConfig, env: Mapping[str, str]) -> str | dict[str, str] | None:
    if env.get(STORAGE_URL_ENV):
        return _from_env(STORAGE_URL_ENV, env)
    if config.instance.storage_url_env:
        return _from_env(config.instance.storage_url_env, env)
    return dagster_postgres_url(config.instance.storage_url) if config.instance.storage_url else None


def instance_settings(config: PlatformConfig, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`dagster.yaml` as a mapping: storage, run coordinator, run and pool concurrency."""
    env = os.environ if env is None else env
    settings: dict[str, Any] = {"telemetry": {"enabled": False}}
    url = _storage_url(config, env)
    if url is not None:
        settings["storage"] = {"postgres": {"postgres_url": url}}
    settings["run_coordinator"] = {
        "module": "dagster._core.run_coordinator",
        "class": _COORDINATORS[config.instance.run_coordinator],
    }
    # dagster.yaml cannot size one pool by name; datacrew's only pools are warehouse files,
    # so the default limit is their size (the UI can still change a pool's limit).
    concurrency: dict[str, Any] = {"pools": {"default_limit": WAREHOUSE_POOL_SIZE}}
    if config.instance.run_coordinator == "queued":
        runs: dict[str, Any] = {}
        if config.instance.max_concurrent_runs is not None:
            runs["max_concurrent_runs"] = config.instance.max_concurrent_runs
        if config.agents:
            runs["tag_concurrency_limits"] = agent_tag_limits(config.agents)
        if runs:
            concurrency["runs"] = runs
    settings["concurrency"] = concurrency
    return settings


def render_instance_yaml(config: PlatformConfig, env: Mapping[str, str] | None = None) -> str:
    """The file's text: the settings after a header saying where they come from."""
    return _HEADER + yaml.safe_dump(instance_settings(config, env), sort_keys=False, default_flow_style=False)
