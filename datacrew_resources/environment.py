"""The one place that decides the process environment for a platform home."""

from __future__ import annotations

import os

from .config import Home
from .instance.writer import refresh_instance_yaml

# CrewAI, OpenTelemetry and Dagster phone home unless told not to (invariant 5).
# Defaults only (`setdefault`), so an operator can still opt in explicitly.
QUIET_ENV = {
    # OpenTelemetry export of crew/agent/task spans to telemetry.crewai.com.
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "OTEL_SDK_DISABLED": "true",
    # Execution traces uploaded to app.crewai.com.
    "CREWAI_TRACING_ENABLED": "false",
    # PyPI "new version available" lookup, done by CrewAI's console formatter.
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "DAGSTER_DISABLE_TELEMETRY": "true",
}


def quiet_environment() -> None:
    """Apply QUIET_ENV to this process (before crewai is imported)."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)


def prepare_environment(home: Home) -> None:
    """Point Dagster at the home's instance (its dagster.yaml generated from datacrew.yaml) and
    silence telemetry; create state dirs."""
    quiet_environment()
    os.environ.setdefault("DAGSTER_HOME", str(home.root / "dagster"))
    home.dagster_home.mkdir(parents=True, exist_ok=True)
    refresh_instance_yaml(home)
    for directory in (home.state_dir, home.tmp_dir, home.outputs_dir):
        directory.mkdir(parents=True, exist_ok=True)
