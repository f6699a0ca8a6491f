"""The one place that decides the process environment for a platform home."""

from __future__ import annotations

import os

from .config import Home

# CrewAI and OpenTelemetry phone home unless told not to (architecture invariant 5).
QUIET_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "DAGSTER_DISABLE_TELEMETRY": "true",
}

INSTANCE_YAML = """\
# Written by datacrew: a SQLite instance inside the platform home.
telemetry:
  enabled: false
"""


def prepare_environment(home: Home) -> None:
    """Point Dagster at the home's instance and silence telemetry; create state dirs."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("DAGSTER_HOME", str(home.root / "dagster"))
    dagster_home = home.dagster_home
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_yaml = dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(INSTANCE_YAML)
    for directory in (home.state_dir, home.tmp_dir, home.outputs_dir):
        directory.mkdir(parents=True, exist_ok=True)
