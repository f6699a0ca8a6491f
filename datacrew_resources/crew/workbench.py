"""The engine operations a transformation crew may call, as a protocol."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class TransformationWorkbench(Protocol):
    """Engine operations bound to ONE spec and its sources.

    Every method raises `ValueError` with a one-line message when the operation
    cannot be done (unknown key, SQL that does not compile, a failed write); the
    crew's tools turn that message into an `ERROR: ...` answer for the agent.
    """

    spec_name: str
    source_keys: list[str]

    def inspect_dataset(self, key: str) -> dict[str, Any]:
        """One source: `{"key", "row_count", "columns": [{"name", "type"}], "sample": [rows]}`."""
        ...

    def compile_plan(self) -> dict[str, Any]:
        """Compile the spec's rules to validated SQL: `{"sql", "output_columns"}`."""
        ...

    def compile_sql(self, sql: str) -> dict[str, Any]:
        """Validate and compile SQL the agent wrote, as the spec's only rule (`sql:`).

        For intent-only specs. The SQL passes the same guard as every other SQL
        (one SELECT over the sources by quoted key, no table functions, no file
        access); the plan `execute_plan` runs is the last one this accepted.
        Returns `{"sql", "output_columns"}`.
        """
        ...

    def execute_plan(self) -> dict[str, Any]:
        """Run the plan and write the output atomically.

        Returns `{"output_uri", "record_count", "engine_seconds"}`.
        """
        ...

    def validate_output(self) -> dict[str, Any]:
        """Check the written output against the target schema: `{"ok", "problems"}`."""
        ...

    def request_delegation(
        self,
        target: str,
        task_type: str,
        priority: str = "medium",
        facts: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Ask another agent for work, as the run's agent (peer collaboration).

        The request is only queued: the delegation gate judges it later, and
        nothing runs here. An unknown target or task type stores nothing.
        Returns `{"request_id", "state", "target", "task_type"}`.
        """
        ...

    def pipeline_report(
        self, action: str, key: str | None = None, hours: float | None = None
    ) -> dict[str, Any]:
        """What the platform's Dagster instance recorded, read-only: the JSON of
        `datacrew status ACTION [KEY] [--hours H]` (status, monitor, lineage, optimize).
        """
        ...

    def discover_datasets(
        self,
        query: str,
        max_results: int = 10,
        source_types: list[str] | None = None,
        quality_threshold: float = 0.0,
        data_domains: list[str] | None = None,
        freshness_requirement: str | None = None,
    ) -> dict[str, Any]:
        """The catalog's datasets ranked for `query` (`datacrew search --json`'s ranking), read-only:
        `{"query", "filters", "total_datasets_found", "datasets_returned", "datasets", "aggregation_metadata"}`.
        """
        ...
