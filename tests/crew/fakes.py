"""An in-memory `TransformationWorkbench` for crew tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datacrew_resources.engine.sql_guard import check_query

DATASETS: dict[str, dict[str, Any]] = {
    "lake/flights": {
        "key": "lake/flights",
        "row_count": 336776,
        "columns": [
            {"name": "carrier", "type": "VARCHAR"},
            {"name": "dep_delay", "type": "DOUBLE"},
            {"name": "origin", "type": "VARCHAR"},
        ],
        "sample": [
            {"carrier": "UA", "dep_delay": 2.0, "origin": "EWR"},
            {"carrier": "AA", "dep_delay": -1.0, "origin": "LGA"},
        ],
    },
    "warehouse/airlines": {
        "key": "warehouse/airlines",
        "row_count": 16,
        "columns": [{"name": "carrier", "type": "VARCHAR"}, {"name": "name", "type": "VARCHAR"}],
        "sample": [{"carrier": "UA", "name": "United Air Lines Inc."}],
    },
}

SQL = (
    'SELECT f.carrier, a.name, count(*) AS flights, avg(f.dep_delay) AS avg_dep_delay '
    'FROM "lake/flights" AS f JOIN "warehouse/airlines" AS a USING (carrier) '
    "WHERE f.dep_delay IS NOT NULL GROUP BY f.carrier, a.name"
)

SPEC_SUMMARY: dict[str, Any] = {
    "name": "delays_by_carrier",
    "type": "aggregation",
    "description": "Mean departure delay and flight count per airline",
    "sources": ["lake/flights", "warehouse/airlines"],
    "rules": [
        {"filter": "dep_delay IS NOT NULL"},
        {"join": {"source": "warehouse/airlines", "on": ["carrier"], "how": "inner"}},
        {"group_by": ["carrier", "name"]},
        {"aggregate": {"flights": "count(*)", "avg_dep_delay": "avg(dep_delay)"}},
    ],
    "target_schema": {
        "columns": [
            {"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
            {"name": "name", "type": "VARCHAR", "nullable": False},
            {"name": "flights", "type": "BIGINT", "min": 0},
            {"name": "avg_dep_delay", "type": "DOUBLE"},
        ]
    },
    "output": {"format": "parquet"},
}


@dataclass
class FakeWorkbench:
    """Answers like the engine would; `calls` lists what was asked, in order."""

    spec_name: str = "delays_by_carrier"
    source_keys: list[str] = field(default_factory=lambda: ["lake/flights", "warehouse/airlines"])
    compile_error: str | None = None
    problems: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    accepted_sql: str | None = None

    def inspect_dataset(self, key: str) -> dict[str, Any]:
        self.calls.append(f"inspect_dataset:{key}")
        if key not in DATASETS:
            raise ValueError(f"unknown dataset {key!r}")
        return DATASETS[key]

    def compile_plan(self) -> dict[str, Any]:
        self.calls.append("compile_plan")
        if self.compile_error:
            raise ValueError(self.compile_error)
        return {"sql": SQL, "output_columns": ["carrier", "name", "flights", "avg_dep_delay"]}

    def compile_sql(self, sql: str) -> dict[str, Any]:
        """The real guard, then the select list's names as the output columns."""
        self.calls.append("compile_sql")
        tree = check_query(sql, tables=self.source_keys, field="sql")
        self.accepted_sql = sql
        return {"sql": sql, "output_columns": [e.alias_or_name for e in tree.selects]}

    def execute_plan(self) -> dict[str, Any]:
        self.calls.append("execute_plan")
        return {
            "output_uri": "file:///home/outputs/transformed/delays_by_carrier.parquet",
            "record_count": 16,
            "engine_seconds": 0.042,
        }

    def validate_output(self) -> dict[str, Any]:
        self.calls.append("validate_output")
        return {"ok": not self.problems, "problems": list(self.problems)}
