"""The transformation engine: spec -> guarded SQL -> sandboxed DuckDB -> atomic, checked parquet.

`Engine` exposes each step separately, as the crew's tools call them: `inspect` a
source, `compile` a spec into a plan, `execute` a plan, `validate_output`. Every
result has `to_dict()` for JSON. Bad specs raise `ConfigError`; a run whose data
fails (a value that cannot convert, a target_schema violation) raises
`TransformationFailed` and leaves the previous output file byte-identical, because
the schema is checked on the temp file before it replaces the output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line, one_line
from datacrew_resources.config.platform import EngineConfig
from datacrew_resources.config.spec import TransformationSpec

from .compiler import CompiledPlan, compile_spec
from .sandbox import open_sandbox
from .schema_check import SchemaReport, Violation, check_output
from .sources import SourceRef, view_identifier
from .sql_guard import DIALECT, check_query
from .values import rows_as_dicts
from .writer import WriteResult, write_parquet

SAMPLE_ROWS = 5


class TransformationFailed(ValueError):
    """A run that produced no new output; `report` holds the schema violations, if any."""

    def __init__(self, message: str, *, report: SchemaReport | None = None):
        self.report = report
        super().__init__(one_line(message))


@dataclass(frozen=True)
class ExecutionResult:
    name: str
    output_path: str
    record_count: int
    bytes: int
    seconds: float
    report: SchemaReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": "success",
            "output_path": self.output_path,
            "record_count": self.record_count,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "schema": self.report.to_dict(),
        }


class Engine:
    """Runs transformation specs over a fixed set of registered sources."""

    def __init__(
        self,
        sources: Mapping[str, SourceRef],
        *,
        output_dir: str | Path,
        temp_dir: str | Path,
        config: EngineConfig | None = None,
    ):
        self._sources = dict(sources)
        self.output_dir = Path(output_dir).resolve()
        self.temp_dir = Path(temp_dir).resolve()
        self.config = config or EngineConfig()

    def inspect(self, key: str) -> dict[str, Any]:
        """Columns, types, row count and a few sample rows of one source."""
        ref = self._source(key, field="key")
        with self._sandbox([ref]) as con:
            table = exp.select("*").from_(exp.Table(this=view_identifier(key)))
            relation = con.sql(table.sql(dialect=DIALECT))
            names, types = relation.columns, [str(t) for t in relation.types]
            count = con.execute(exp.select("count(*)").from_(table.subquery("t")).sql(dialect=DIALECT))
            row_count = count.fetchall()[0][0]
            rows = con.execute(table.limit(SAMPLE_ROWS).sql(dialect=DIALECT)).fetchall()
        return {
            "key": key,
            "kind": ref.kind,
            "columns": [{"name": n, "type": t} for n, t in zip(names, types)],
            "row_count": row_count,
            "sample_rows": rows_as_dicts(names, rows),
        }

    def compile(self, spec: TransformationSpec, *, file: str = "") -> CompiledPlan:
        """Check a spec against the sources and compile it into one SELECT (reads no data)."""
        refs = [self._source(k, field=f"sources[{i}]") for i, k in enumerate(spec.sources)]
        self._learn_columns([ref for ref in refs if not ref.columns])
        return compile_spec(spec, self._sources, file=file)

    def execute(
        self, spec: TransformationSpec, plan: CompiledPlan, output_path: str | Path
    ) -> ExecutionResult:
        """Write the plan's result to `output_path` atomically, after checking target_schema.

        The SQL is guarded again here, so a plan built elsewhere gets the same scrutiny.
        """
        path = self._output(output_path)
        query = check_query(plan.sql, tables=plan.source_keys, field="plan.sql")
        refs = [self._source(k, field="plan.source_keys") for k in plan.source_keys]

        def verify(temp: Path) -> None:
            report = check_output(con, temp, spec.target_schema)
            failing = report.failing(spec.target_schema.on_violation)
            if failing:
                summary = "; ".join(v.summary() for v in failing)
                raise TransformationFailed(
                    f"{spec.name}: output violates target_schema: {summary}", report=report)
            reports.append(report)

        reports: list[SchemaReport] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._sandbox(refs, path.parent) as con:
            try:
                written: WriteResult = write_parquet(con, query, path, verify=verify)
            except duckdb.Error as e:
                raise TransformationFailed(f"{spec.name}: execution failed: {first_line(e)}") from e
        return ExecutionResult(spec.name, written.path, written.record_count, written.bytes,
                               written.seconds, reports[0])

    def validate_output(self, spec: TransformationSpec, output_path: str | Path) -> SchemaReport:
        """Check an existing output file against the spec's target_schema."""
        path = self._output(output_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no output to validate")
        with self._sandbox([], path.parent) as con:
            return check_output(con, path, spec.target_schema)

    def _source(self, key: str, *, field: str) -> SourceRef:
        if key not in self._sources:
            raise ConfigError(f"unknown source (registered: {', '.join(sorted(self._sources))})",
                              field=field, value=key)
        return self._sources[key]

    def _learn_columns(self, refs: list[SourceRef]) -> None:
        """Fill in column lists the catalog did not provide, from the files' own schemas."""
        if not refs:
            return
        with self._sandbox(refs) as con:
            for ref in refs:
                table = exp.select("*").from_(exp.Table(this=view_identifier(ref.key)))
                relation = con.sql(table.sql(dialect=DIALECT))
                columns = tuple((n, str(t)) for n, t in zip(relation.columns, relation.types))
                self._sources[ref.key] = dataclasses.replace(ref, columns=columns)

    def _output(self, output_path: str | Path) -> Path:
        path = Path(output_path).resolve()
        if not path.is_relative_to(self.output_dir):
            raise ConfigError(f"must be inside the output directory {self.output_dir}",
                              field="output_path", value=str(output_path))
        return path

    def _sandbox(self, refs: list[SourceRef], *writable: Path):
        return open_sandbox(refs, allowed_dirs=writable, temp_dir=self.temp_dir,
                            memory_limit=self.config.memory_limit, threads=self.config.threads)


__all__ = [
    "CompiledPlan",
    "Engine",
    "ExecutionResult",
    "SchemaReport",
    "SourceRef",
    "TransformationFailed",
    "Violation",
    "compile_spec",
]
