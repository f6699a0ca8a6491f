"""The values of the `{placeholders}` in agents.yaml and tasks.yaml."""

from __future__ import annotations

import json
from typing import Any

from .workbench import TransformationWorkbench

NONE_GIVEN = "(none given)"


def task_inputs(
    workbench: TransformationWorkbench, spec_summary: dict[str, Any], agent_id: str
) -> dict[str, str]:
    """Kickoff inputs from a spec summary (`TransformationSpec.model_dump(mode="json")`).

    Target columns come from `target_schema.columns`, or from `target_columns`
    (column dicts or names). Missing keys get neutral values, so a partial
    summary still fills every placeholder.
    """
    schema_columns = (spec_summary.get("target_schema") or {}).get("columns")
    columns = schema_columns or spec_summary.get("target_columns") or []
    return {
        "spec_name": workbench.spec_name,
        "agent_id": agent_id,
        "transformation_type": str(spec_summary.get("type") or "etl"),
        "description": str(spec_summary.get("description") or NONE_GIVEN),
        "intent": str(spec_summary.get("intent") or NONE_GIVEN),
        "sources": ", ".join(workbench.source_keys),
        "rules": json.dumps(spec_summary.get("rules") or []),
        "target_columns": ", ".join(_describe(column) for column in columns) or NONE_GIVEN,
        "output_format": str((spec_summary.get("output") or {}).get("format") or "parquet"),
    }


def _describe(column: dict[str, Any] | str) -> str:
    """`name TYPE`, with NOT NULL and PRIMARY KEY when declared."""
    if isinstance(column, str):
        return column
    text = f"{column['name']} {column.get('type', '')}".strip()
    if column.get("nullable") is False:
        text += " NOT NULL"
    if column.get("primary_key"):
        text += " PRIMARY KEY"
    return text
