"""The transformation engine: spec -> guarded SQL -> sandboxed DuckDB -> atomic, checked output.

`Engine` exposes each step separately, as the crew's tools call them: `inspect` a
source, `compile` a spec into a plan, `execute` a plan, `validate_output`. Every
result has `to_dict()` for JSON. Bad specs raise `ConfigError`; a run whose data
fails (a value that cannot convert, a target_schema violation) raises
`TransformationFailed` and leaves the previous output byte-identical, because the
schema is checked on a temp file before anything replaces the output.

One `execute`, under the output's write lock (`writer.target_lock`):

1. the query runs into a parquet staging file next to the output (in DuckDB, or in Spark
   for a spec whose engine is `spark`: `engine.spark`);
2. `schema_check` checks it; a failing violation stops here;
3. under `on_violation: quarantine`, `quarantine.split` labels the rows that break a
   rule; kept rows and quarantined rows are copied to their own temps;
4. the format's temp is written from the staging file (`outputs`): another file
   format, a partition directory, or a warehouse table loaded in one transaction;
5. `writer.publish` renames the temps in: quarantine first, then the main output,
   back to back after every temp is flushed. The pair is therefore mixed (new
   quarantine, old main) only if the process dies between two renames, a window
   with no I/O in it; the next run replaces both. A warehouse pair has no window:
   both tables change in one DuckDB transaction.

An `execute` also reads the output's preview (first rows, from the checked data) and,
when the published output is the very file it checked (a parquet file, no split), the
file's identity, so `validate_output(..., execution=)` can return the report instead of
reading the file again while the file is unchanged (same inode, size and mtime).

A crew run uses `Engine.session`: one sandbox for all its steps, interruptible (see
`engine.session`). The `Engine` methods open a sandbox per call.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line, one_line
from datacrew_resources.config.platform import EngineConfig
from datacrew_resources.config.spec import TransformationSpec

from . import outputs
from .compiler import CompiledPlan, compile_spec
from .outputs import OutputLocation, Staging, WarehouseLocked, WriteInterrupted
from .quarantine import QuarantineCounts, empty_quarantine, split
from .sandbox import open_sandbox
from .schema_check import SchemaReport, Violation, check_output, check_relation
from .sources import SourceRef, view_identifier
from .spark import SparkFailed
from .spark import run_query as run_spark_query
from .sql_guard import DIALECT, check_query
from .values import rows_as_dicts
from .writer import publish, remove_path, remove_stale_temp_files, target_lock, temps, tree_size

if TYPE_CHECKING:
    from .session import EngineSession

SAMPLE_ROWS = 5
PREVIEW_ROWS = 10
WAREHOUSE_LOCK_TIMEOUT = 30.0  # seconds a warehouse write waits for another DuckDB writer


class TransformationFailed(ValueError):
    """A run that produced no new output; `report` holds the schema violations, if any."""

    def __init__(self, message: str, *, report: SchemaReport | None = None):
        self.report = report
        super().__init__(one_line(message))


@dataclass(frozen=True)
class QuarantineResult:
    """The quarantine output of a run: where, how many rows, and why (rows per kind of
    rule and per rule; a row breaking two rules counts under both)."""

    uri: str
    rows: int
    by_kind: dict[str, int]
    by_rule: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ExecutionResult:
    """`output_path` is the file, partition directory or database file written;
    `record_count` counts the main output's rows (after any quarantine);
    `report.row_count` the rows the query produced. `bytes` is the file's size, the
    directory's total, or the database file's size."""

    name: str
    output_path: str
    record_count: int
    bytes: int
    seconds: float
    report: SchemaReport
    location: OutputLocation | None = None
    quarantine: QuarantineResult | None = None
    preview: dict[str, Any] | None = None  # {"columns": [{"name", "type"}], "rows": [...]}
    checked_file: FileIdentity | None = None  # the output as published, when `report` checked that very file
    engine: str = "duckdb"  # the engine that ran the query

    @property
    def output_uri(self) -> str:
        return self.location.uri if self.location else self.output_path

    @property
    def quarantined_rows(self) -> int:
        return self.quarantine.rows if self.quarantine else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": "success",
            "output_path": self.output_path,
            "output_uri": self.output_uri,
            "format": self.location.format if self.location else "parquet",
            "engine": self.engine,
            "table": self.location.table if self.location else None,
            "record_count": self.record_count,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "quarantined_rows": self.quarantined_rows,
            "quarantine": self.quarantine.to_dict() if self.quarantine else None,
            "schema": self.report.to_dict(),
        }


FileIdentity = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


def file_identity(path: Path) -> FileIdentity | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


# Opens the connection a write runs in, given the sources the plan reads.
Connector = Callable[[list[SourceRef]], AbstractContextManager[duckdb.DuckDBPyConnection]]


class Engine:
    """Runs transformation specs over a fixed set of registered sources."""

    def __init__(
        self,
        sources: Mapping[str, SourceRef],
        *,
        output_dir: str | Path,
        temp_dir: str | Path,
        config: EngineConfig | None = None,
        warehouse_lock_timeout: float = WAREHOUSE_LOCK_TIMEOUT,
    ):
        self._sources = dict(sources)
        self.output_dir = Path(output_dir).resolve()
        self.temp_dir = Path(temp_dir).resolve()
        self.config = config or EngineConfig()
        self.warehouse_lock_timeout = warehouse_lock_timeout

    @property
    def sources(self) -> dict[str, SourceRef]:
        """The registered sources by key (with the columns learnt so far)."""
        return dict(self._sources)

    def session(self, spec: TransformationSpec, output_path: str | Path | None = None) -> EngineSession:
        """One sandbox for every step of one spec's run (see `engine.session`)."""
        from .session import EngineSession

        return EngineSession(self, spec, output_path)

    def inspect(self, key: str) -> dict[str, Any]:
        """Columns, types, row count and a few sample rows of one source."""
        ref = self._source(key, field="key")
        with self.sandbox([ref]) as con:
            return describe_source(con, ref)

    def compile(self, spec: TransformationSpec, *, file: str = "") -> CompiledPlan:
        """Check a spec against the sources and compile it into one SELECT (reads no data)."""
        refs = [self._source(k, field=f"sources[{i}]") for i, k in enumerate(spec.sources)]
        missing = [ref for ref in refs if not ref.columns]
        if missing:
            with self.sandbox(missing) as con:
                self.learn_columns(con, missing)
        # Partitioning is how the result is written, not what it is: the SELECT is the same.
        outputs.check_partitions(spec)
        return compile_spec(spec, self._sources, file=file)

    def output_location(self, spec: TransformationSpec, output_path: str | Path | None = None) -> OutputLocation:
        """Where `execute` writes the spec's output (the scheme is in `engine.outputs`);
        `output_path` overrides the file, directory, or warehouse database file."""
        return outputs.resolve_location(spec, self.output_dir, output_path)

    def execute(
        self, spec: TransformationSpec, plan: CompiledPlan, output_path: str | Path | None = None
    ) -> ExecutionResult:
        """Write the plan's result to the spec's output atomically, after checking target_schema.

        The SQL is guarded again here, so a plan built elsewhere gets the same scrutiny.
        """
        location = self.output_location(spec, output_path)
        staging = Staging.fresh(location)
        files, dirs = outputs.sandbox_access(location, staging)
        return self.write(spec, plan, location, staging, lambda refs: self.sandbox(refs, *dirs, paths=files))

    def write(
        self, spec: TransformationSpec, plan: CompiledPlan, location: OutputLocation, staging: Staging,
        connect: Connector, *, stopped: Callable[[], str | None] = lambda: None,
    ) -> ExecutionResult:
        """`execute` into `staging`'s temp names, in the connection `connect(refs)` opens
        (which must allow exactly those temps). `stopped()` returning a reason (the run was
        interrupted) turns a failed statement into that reason and keeps the write from
        being published."""
        outputs.check_partitions(spec)
        query = check_query(plan.sql, tables=plan.source_keys, field="plan.sql")
        refs = [self._source(k, field="plan.source_keys") for k in plan.source_keys]
        start = time.perf_counter()
        location.path.parent.mkdir(parents=True, exist_ok=True)
        with target_lock(location.lock_target):
            remove_stale_temp_files(location.lock_target)
            if location.quarantine_path is not None:
                remove_stale_temp_files(location.quarantine_path)
            with temps(*staging.paths):
                with connect(refs) as con:
                    try:
                        written = self._write(con, spec, query, refs, location, staging, stopped)
                    except (WarehouseLocked, WriteInterrupted) as e:
                        raise TransformationFailed(f"{spec.name}: {e}") from None
                    except (duckdb.Error, SparkFailed) as e:
                        if stopped():
                            raise TransformationFailed(f"{spec.name}: write interrupted: {stopped()}") from e
                        detail = str(e) if isinstance(e, SparkFailed) else f"execution failed: {first_line(e)}"
                        raise TransformationFailed(f"{spec.name}: {detail}") from e
                if stopped():
                    raise TransformationFailed(f"{spec.name}: write interrupted before publishing: {stopped()}")
                publish(written.ready)
                if not location.quarantine and location.quarantine_path is not None:
                    location.quarantine_path.unlink(missing_ok=True)  # from an earlier quarantining run
                for leftover in staging.paths:
                    remove_path(leftover)  # the staging file, when a copy was published instead
                for old_shape in location.superseded:
                    remove_path(old_shape)
            size = tree_size(location.path)  # under the lock: this write's output, not a later one's
            checked = None
            if written.ready and written.ready[-1] == (staging.stage, location.path):
                checked = file_identity(location.path)  # published as checked: its report is exact
        seconds = round(time.perf_counter() - start, 6)
        return ExecutionResult(spec.name, str(location.path), written.kept_rows, size, seconds, written.report,
                               location=location, quarantine=written.quarantine, preview=written.preview,
                               checked_file=checked, engine=self.engine_name(spec))

    def engine_name(self, spec: TransformationSpec) -> str:
        """The engine that runs the spec's query: its own `engine:`, else the platform's."""
        return spec.engine or self.config.name

    def _write(
        self, con: duckdb.DuckDBPyConnection, spec: TransformationSpec, query: exp.Query, refs: list[SourceRef],
        location: OutputLocation, staging: Staging, stopped: Callable[[], str | None],
    ) -> _Written:
        """Steps 1-4 of the module docstring, and the preview; `ready` is what `publish` must rename."""
        if self.engine_name(spec) == "spark":  # step 1 only: the rest is the same on the staging file
            produced = run_spark_query(con, spec, query, refs, staging.stage, config=self.config,
                                       temp_dir=self.temp_dir, stopped=stopped)
        else:
            produced = con.execute(outputs.copy_statement(query, staging.stage)).fetchall()[0][0]
        report = check_output(con, staging.stage, spec.target_schema)
        failing = report.failing(spec.target_schema.on_violation)
        if failing:
            summary = "; ".join(v.summary() for v in failing)
            raise TransformationFailed(f"{spec.name}: output violates target_schema: {summary}", report=report)
        kept, bad, counts, kept_rows = None, None, None, int(produced)
        if location.quarantine:
            if report.row_violations:
                parts = split(con, staging.stage, spec.target_schema)
                kept, bad, counts, kept_rows = parts.kept, parts.quarantined, parts.counts, parts.kept_rows
            else:
                bad, counts = empty_quarantine(staging.stage), QuarantineCounts(0)
        quarantine = (QuarantineResult(location.quarantine_uri, counts.rows, counts.by_kind, counts.by_rule)
                      if counts is not None else None)
        everything = exp.select(exp.Star()).from_(exp.Table(this=outputs.read_parquet(staging.stage)))
        preview = _preview(con, kept or everything, PREVIEW_ROWS)  # what the main output holds
        if location.is_warehouse:
            outputs.load_warehouse(con, location, kept or everything, bad, lock_timeout=self.warehouse_lock_timeout,
                                   stopped=stopped)
            return _Written(report, kept_rows, quarantine, [], preview)
        ready = []
        if bad is not None:
            con.execute(outputs.copy_statement(bad, staging.quarantine))
            ready.append((staging.quarantine, location.quarantine_path))
        ready.append((outputs.write_file_output(con, location, staging, kept), location.path))
        return _Written(report, kept_rows, quarantine, ready, preview)

    def validate_output(
        self, spec: TransformationSpec, output_path: str | Path | None = None, *,
        execution: ExecutionResult | None = None,
    ) -> SchemaReport:
        """Check an existing output against the spec's target_schema (the main output:
        under quarantine it should conform entirely).

        With `execution` (this spec's write), its report is the answer while the output is
        still the very file that report checked; otherwise the output is read again.
        """
        location = self.output_location(spec, output_path)
        if (execution is not None and execution.checked_file is not None
                and Path(execution.output_path) == location.path
                and file_identity(location.path) == execution.checked_file):
            return execution.report
        if not outputs.exists(location):
            raise FileNotFoundError(f"{location.uri}: no output to validate")
        if location.format == "parquet" and not location.is_directory:
            with self.sandbox([], paths=[location.path]) as con:
                return check_output(con, location.path, spec.target_schema)
        with self.read_output(spec, output_path) as (con, table):
            names = outputs.header_names(con, location)
            if names is not None:
                structure = _header_structure(names, spec)
                if structure:
                    return SchemaReport(0, structure)
                try:  # text formats convert on read: make every value convert once
                    every = exp.Count(this=exp.Columns(this=exp.Star()))
                    con.execute(exp.select(every).from_(_from(table)).sql(dialect=DIALECT)).fetchall()
                except duckdb.Error as e:
                    detail = f"values do not read as the declared types: {first_line(e)}"
                    return SchemaReport(0, [Violation("type_mismatch", "*", 1, detail)])
            return check_relation(con, table, spec.target_schema, where=location.uri)

    @contextmanager
    def read_output(
        self, spec: TransformationSpec, output_path: str | Path | None = None
    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, exp.Expression]]:
        """A sandboxed connection that may read only the spec's output, and a FROM-able
        expression over it with the declared types (for previews and quality checks)."""
        location = self.output_location(spec, output_path)
        if location.is_directory and not any(location.path.rglob(f"*.{location.format}")):
            raise FileNotFoundError(f"{location.uri}: the partitioned output has no files (no rows)")
        files, dirs = outputs.read_access(location)
        with self.sandbox([], *dirs, paths=files) as con:
            with outputs.reading(con, location, spec, lock_timeout=self.warehouse_lock_timeout) as table:
                yield con, table

    def preview_output(
        self, spec: TransformationSpec, output_path: str | Path | None = None, *, limit: int = PREVIEW_ROWS
    ) -> dict[str, Any]:
        """The output's columns (name, type) and its first `limit` rows, for metadata."""
        with self.read_output(spec, output_path) as (con, table):
            return _preview(con, exp.select("*").from_(_from(table)), limit)

    def _source(self, key: str, *, field: str) -> SourceRef:
        if key not in self._sources:
            raise ConfigError(f"unknown source (registered: {', '.join(sorted(self._sources))})",
                              field=field, value=key)
        return self._sources[key]

    def learn_columns(self, con: duckdb.DuckDBPyConnection, refs: list[SourceRef]) -> None:
        """Fill in column lists the catalog did not provide, from the views over `refs` in `con`."""
        for ref in refs:
            table = exp.select("*").from_(exp.Table(this=view_identifier(ref.key)))
            relation = con.sql(table.sql(dialect=DIALECT))
            columns = tuple((n, str(t)) for n, t in zip(relation.columns, relation.types))
            self._sources[ref.key] = dataclasses.replace(ref, columns=columns)

    def sandbox(self, refs: list[SourceRef], *dirs: Path, paths: list[Path] = (), **options: Any):
        """`open_sandbox` within this engine's limits and temp directory."""
        return open_sandbox(refs, allowed_dirs=dirs, allowed_paths=paths, temp_dir=self.temp_dir,
                            memory_limit=self.config.memory_limit, threads=self.config.threads,
                            max_temp_directory_size=self.config.max_temp_directory_size, **options)


@dataclass(frozen=True)
class _Written:
    report: SchemaReport
    kept_rows: int
    quarantine: QuarantineResult | None
    ready: list[tuple[Path, Path]]
    preview: dict[str, Any]


def describe_source(con: duckdb.DuckDBPyConnection, ref: SourceRef) -> dict[str, Any]:
    """`Engine.inspect`'s answer, from the view over `ref` in `con`; the row count is the
    catalog's while that is exact (`SourceRef.recorded_rows`), else counted."""
    table = exp.select("*").from_(exp.Table(this=view_identifier(ref.key)))
    relation = con.sql(table.sql(dialect=DIALECT))
    names, types = relation.columns, [str(t) for t in relation.types]
    row_count = ref.recorded_rows()
    if row_count is None:
        count = con.execute(exp.select("count(*)").from_(table.subquery("t")).sql(dialect=DIALECT))
        row_count = count.fetchall()[0][0]
    rows = con.execute(table.limit(SAMPLE_ROWS).sql(dialect=DIALECT)).fetchall()
    return {
        "key": ref.key,
        "kind": ref.kind,
        "columns": [{"name": n, "type": t} for n, t in zip(names, types)],
        "row_count": row_count,
        "sample_rows": rows_as_dicts(names, rows),
    }


def _preview(con: duckdb.DuckDBPyConnection, rows: exp.Select, limit: int) -> dict[str, Any]:
    """Columns (name, type) and the first `limit` rows of `rows`."""
    relation = con.sql(exp.select("*").from_(rows.subquery("p")).limit(limit).sql(dialect=DIALECT))
    columns = [{"name": n, "type": str(t)} for n, t in zip(relation.columns, relation.types)]
    return {"columns": columns, "rows": [list(r) for r in relation.fetchall()]}


def _from(table: exp.Expression) -> exp.Expression:
    return table if isinstance(table, exp.Table) else exp.Table(this=table)


def _header_structure(names: list[str], spec: TransformationSpec) -> list[Violation]:
    """Missing and undeclared columns of a CSV/JSON output, by name (types are read as declared)."""
    found = {n.lower() for n in names}
    declared = {c.name.lower() for c in spec.target_schema.columns}
    missing = [Violation("missing_column", c.name, 1, "declared column is missing")
               for c in spec.target_schema.columns if c.name.lower() not in found]
    extra = [Violation("extra_column", n, 1, "undeclared column") for n in names if n.lower() not in declared]
    return missing + extra


__all__ = [
    "CompiledPlan",
    "Engine",
    "ExecutionResult",
    "FileIdentity",
    "OutputLocation",
    "QuarantineResult",
    "SchemaReport",
    "SourceRef",
    "TransformationFailed",
    "Violation",
    "compile_spec",
]
