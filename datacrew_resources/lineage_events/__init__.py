"""OpenLineage run events of transformation materializations (START, COMPLETE, FAIL).

Importing this package does not import openlineage-python (about 0.5 s): the event
builder is imported when a materialization first emits."""

from .emitter import MaterializationLineage, lineage_run_id

__all__ = ["MaterializationLineage", "lineage_run_id"]
