"""The Dagster instance of a home: `$DAGSTER_HOME/dagster.yaml` generated from `datacrew.yaml`."""

from .concurrency import AGENT_TAG, agent_tag_limits, warehouse_pool
from .settings import INSTANCE_FILE, MARKER, STORAGE_URL_ENV, instance_settings, render_instance_yaml
from .writer import write_instance_yaml

__all__ = [
    "AGENT_TAG",
    "INSTANCE_FILE",
    "MARKER",
    "STORAGE_URL_ENV",
    "agent_tag_limits",
    "instance_settings",
    "render_instance_yaml",
    "warehouse_pool",
    "write_instance_yaml",
]
