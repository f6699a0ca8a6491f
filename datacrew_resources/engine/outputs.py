"""Where an output lives, how each format is written from the checked staging file, and
how it is read back.

Location scheme (`resolve_location`), under the engine's output directory `OUT`
(the home's `outputs/`):

| output                         | main output                     | quarantine (on_violation: quarantine) |
|--------------------------------|---------------------------------|---------------------------------------|
| parquet / csv / json           | `OUT/<layer>/<name>.<format>`   | `OUT/<layer>/<name>.quarantine.parquet` |
| same with `partition_by: [k]`  | `OUT/<layer>/<name>/k=v/data_0.<format>` (a directory) | `OUT/<layer>/<name>.quarantine.parquet` |
| warehouse                      | table `output.table` (default `<layer>.<name>`) in `output.database` (default `OUT/warehouse.duckdb`) | table `<table>__quarantine`, same database |

JSON is newline-delimited. Partition files carry the partition columns too
(`WRITE_PARTITION_COLUMNS`), so reading `dir/**/*.parquet` without hive
partitioning gives exactly the declared columns and types. A warehouse location's
`uri` is `<database>#<schema>.<table>`.

Every write first produces one parquet staging file (the query's result, checked
against target_schema, split when quarantining); each format is then a copy of it.
The parquet file output with nothing to quarantine skips that copy: the staging
file is published as it is.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line
from datacrew_resources.config.spec import TransformationSpec

from .constraints import col
from .schema_check import read_parquet
from .sources import SourceRef
from .sql_guard import DIALECT
from .writer import copy_statement, temp_path_for  # noqa: F401  (copy_statement re-exported)

FILE_FORMATS = ("parquet", "csv", "json")
DEFAULT_DATABASE = "warehouse.duckdb"
QUARANTINE_TABLE_SUFFIX = "__quarantine"
WAREHOUSE_ALIAS = "__datacrew_output"
# Files DuckDB touches beside a database it writes: the WAL and, in 2.0, the WAL's checkpoint copy.
DATABASE_COMPANIONS = (".wal", ".wal.checkpoint")


class WarehouseLocked(RuntimeError):
    """Another process held the warehouse database for longer than the retry budget."""


class WriteInterrupted(RuntimeError):
    """The run was stopped (its time limit) while a warehouse write waited or before it committed."""


@dataclass(frozen=True)
class OutputLocation:
    """Where one spec's output goes; `path` is a file, a partition directory or a database."""

    format: str
    path: Path
    partition_by: tuple[str, ...] = ()
    table: str | None = None  # warehouse: schema.table
    quarantine: bool = False
    # Files an earlier shape of the spec (another format, partitioned or not) left at the
    # default location: removed once this output is published, so no stale copy lingers.
    superseded: tuple[Path, ...] = ()

    @property
    def is_warehouse(self) -> bool:
        return self.format == "warehouse"

    @property
    def is_directory(self) -> bool:
        return bool(self.partition_by)

    @property
    def lock_target(self) -> Path:
        """The path whose `.lock` and temp names belong to this output."""
        if self.is_warehouse:
            return self.path.parent / f"{self.path.name}.{self.table}"
        return self.path

    @property
    def quarantine_path(self) -> Path | None:
        if self.is_warehouse:
            return None
        stem = self.path.name
        for suffix in (f".{f}" for f in FILE_FORMATS):
            if stem.endswith(suffix) and len(stem) > len(suffix):
                stem = stem[: -len(suffix)]
                break
        return self.path.parent / f"{stem}.quarantine.parquet"

    @property
    def quarantine_table(self) -> str | None:
        return f"{self.table}{QUARANTINE_TABLE_SUFFIX}" if self.is_warehouse else None

    @property
    def uri(self) -> str:
        return f"{self.path}#{self.table}" if self.is_warehouse else str(self.path)

    @property
    def quarantine_uri(self) -> str | None:
        if not self.quarantine:
            return None
        return f"{self.path}#{self.quarantine_table}" if self.is_warehouse else str(self.quarantine_path)

    def to_dict(self) -> dict:
        return {"format": self.format, "uri": self.uri, "path": str(self.path),
                "partition_by": list(self.partition_by), "table": self.table,
                "quarantine_uri": self.quarantine_uri}


def resolve_location(
    spec: TransformationSpec, output_dir: Path, output_path: str | Path | None = None
) -> OutputLocation:
    """The spec's output location (see the module's table); `output_path`, when given,
    replaces the file or directory (or, for warehouse, the database file)."""
    out = spec.output
    quarantine = spec.target_schema.on_violation == "quarantine"
    if out.format == "warehouse":
        field = "output_path" if output_path is not None else "output.database"
        given = output_path if output_path is not None else (out.database or DEFAULT_DATABASE)
        database = _inside(output_dir, given, field=field)
        table = out.table or f"{spec.layer}.{spec.name}"
        if "." not in table:
            table = f"main.{table}"
        superseded = ()
        if output_path is None:  # a quarantine file too: a warehouse output quarantines into a table
            quarantine_file = output_dir / spec.layer / f"{spec.name}.quarantine.parquet"
            superseded = (*_default_file_outputs(spec, output_dir), quarantine_file)
        return OutputLocation("warehouse", database, table=table, quarantine=quarantine, superseded=superseded)
    superseded: tuple[Path, ...] = ()
    if output_path is None:
        name = spec.name if out.partition_by else f"{spec.name}.{out.format}"
        output_path = output_dir / spec.layer / name
        superseded = tuple(p for p in _default_file_outputs(spec, output_dir) if p != output_path)
    path = _inside(output_dir, output_path, field="output_path")
    return OutputLocation(out.format, path, tuple(out.partition_by), quarantine=quarantine, superseded=superseded)


def _default_file_outputs(spec: TransformationSpec, output_dir: Path) -> tuple[Path, ...]:
    """Every default file location the spec's output could have had: one per format, and the directory."""
    layer = output_dir / spec.layer
    return (*(layer / f"{spec.name}.{f}" for f in FILE_FORMATS), layer / spec.name)


def check_partitions(spec: TransformationSpec) -> None:
    """Partition columns are declared output columns."""
    declared = {c.name.lower() for c in spec.target_schema.columns}
    for k, name in enumerate(spec.output.partition_by):
        if name.lower() not in declared:
            raise ConfigError(f"is not a target_schema column ({', '.join(c.name for c in spec.target_schema.columns)})",
                              field=f"output.partition_by[{k}]", value=name)
    if spec.output.partition_by and len(spec.output.partition_by) == len(spec.target_schema.columns):
        raise ConfigError("partitioning by every column leaves nothing in the files",
                          field="output.partition_by", value=spec.output.partition_by)


def _inside(output_dir: Path, path: str | Path, *, field: str) -> Path:
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else output_dir / candidate).resolve()
    if not resolved.is_relative_to(output_dir) or resolved == output_dir:
        raise ConfigError(f"must be inside the output directory {output_dir}", field=field, value=str(path))
    return resolved


def source_ref(key: str, location: OutputLocation, columns: tuple[tuple[str, str], ...] = ()) -> SourceRef:
    """The output as another transformation's input."""
    if location.is_warehouse:
        return SourceRef(key, "duckdb_table", str(location.path), table=location.table, columns=columns)
    where = f"{location.path}/**/*.{location.format}" if location.is_directory else str(location.path)
    return SourceRef(key, location.format, where, columns=columns)


# -- writing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Staging:
    """The temp names one write may create, all next to their targets.

    `stage` is the query's parquet result; `main` the main output's temp when it must
    differ from `stage` (another format, partitions, or a quarantine split); `quarantine`
    the quarantine file's temp. The sandbox may write these and nothing else.
    """

    stage: Path
    main: Path | None
    quarantine: Path | None

    @classmethod
    def fresh(cls, location: OutputLocation) -> Staging:
        stage = temp_path_for(location.lock_target)
        main = None
        if not location.is_warehouse:
            suffix = ".tmp.d" if location.is_directory else f".tmp.{location.format}"
            main = temp_path_for(location.path, suffix)
        quarantine = temp_path_for(location.quarantine_path) if location.quarantine and not location.is_warehouse else None
        return cls(stage, main, quarantine)

    @property
    def paths(self) -> list[Path]:
        return [p for p in (self.stage, self.main, self.quarantine) if p is not None]


def sandbox_access(location: OutputLocation, staging: Staging) -> tuple[list[Path], list[Path]]:
    """(files, directories) the write's sandbox may touch: its temps, and for a
    warehouse the database file and its companions."""
    files = list(staging.paths)
    dirs = [staging.main] if location.is_directory and staging.main is not None else []
    if location.is_warehouse:
        files += database_files(location.path)
    return files, dirs


def database_files(database: Path) -> list[Path]:
    return [database, *(database.with_name(database.name + s) for s in DATABASE_COMPANIONS)]


def write_file_output(con: duckdb.DuckDBPyConnection, location: OutputLocation, staging: Staging,
                      kept: exp.Select | None) -> Path:
    """Write the main output's temp from the staging file (or `kept`, the rows a split
    kept); returns the temp to publish."""
    if location.format == "parquet" and not location.is_directory and kept is None:
        return staging.stage
    assert staging.main is not None
    source = kept if kept is not None else exp.select(exp.Star()).from_(exp.Table(this=read_parquet(staging.stage)))
    params = [_param("FORMAT", exp.var(location.format))]
    if location.format == "parquet":
        params.append(_param("COMPRESSION", exp.var("zstd")))
    if location.format == "csv":
        params.append(_param("HEADER", exp.true()))
    if location.is_directory:
        params.append(_param("PARTITION_BY", exp.Tuple(expressions=[col(c) for c in location.partition_by])))
        params.append(_param("WRITE_PARTITION_COLUMNS", exp.true()))
    con.execute(copy_statement(source, staging.main, *params))
    if location.is_directory:
        staging.main.mkdir(exist_ok=True)  # no rows: no partitions, but still an (empty) output
    return staging.main


def _param(name: str, value: exp.Expression) -> exp.CopyParameter:
    return exp.CopyParameter(this=exp.var(name), expression=value)


def load_warehouse(
    con: duckdb.DuckDBPyConnection, location: OutputLocation, kept: exp.Query,
    quarantined: exp.Query | None, *, lock_timeout: float, stopped: Callable[[], str | None] = lambda: None,
) -> None:
    """Replace the table (and its quarantine table) in one DuckDB transaction.

    DuckDB commits through its WAL, so a crash anywhere leaves the previous tables; the
    database file is held only while loading the already-checked staging file.
    """
    alias = exp.to_identifier(WAREHOUSE_ALIAS, quoted=True)
    attach_database(con, location.path, alias, read_only=False, lock_timeout=lock_timeout, stopped=stopped)
    try:
        schema, table = location.table.split(".", 1)
        con.execute("BEGIN TRANSACTION")
        try:
            create = exp.Create(kind="SCHEMA", this=exp.Table(db=exp.to_identifier(schema, quoted=True),
                                                              catalog=alias.copy()), exists=True)
            con.execute(create.sql(dialect=DIALECT))
            _replace_table(con, alias, schema, table, kept)
            quarantine_name = table + QUARANTINE_TABLE_SUFFIX
            if quarantined is not None:
                _replace_table(con, alias, schema, quarantine_name, quarantined)
            else:  # not quarantining (any more): an old quarantine table would mislead
                drop = exp.Drop(kind="TABLE", exists=True, tables=[_table(alias, schema, quarantine_name)])
                con.execute(drop.sql(dialect=DIALECT))
            if stopped():  # interrupted: the tables stay as they were
                raise WriteInterrupted(f"write interrupted before committing: {stopped()}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute(exp.Detach(this=alias.copy()).sql(dialect=DIALECT))


def _table(alias: exp.Identifier, schema: str, table: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier(schema, quoted=True),
                     catalog=alias.copy())


def _replace_table(con, alias, schema: str, table: str, query: exp.Query) -> None:
    create = exp.Create(kind="TABLE", this=_table(alias, schema, table), expression=query.copy(), replace=True)
    con.execute(create.sql(dialect=DIALECT))


def attach_database(
    con: duckdb.DuckDBPyConnection, database: Path, alias: exp.Identifier, *, read_only: bool,
    lock_timeout: float, stopped: Callable[[], str | None] = lambda: None,
) -> None:
    """ATTACH, waiting out DuckDB's one-writer rule: while another process holds the file,
    retry with jittered exponential backoff (50 ms doubling to 1 s) until `lock_timeout`
    seconds have passed, then raise `WarehouseLocked` with a one-line message. A reason
    from `stopped()` (the run was interrupted) ends the waiting with that reason."""
    options = [exp.AttachOption(this=exp.var("READ_ONLY"))] if read_only else []
    attach = exp.Attach(this=exp.alias_(exp.Literal.string(str(database)), alias.copy()), expressions=options)
    sql = attach.sql(dialect=DIALECT)
    deadline = time.monotonic() + lock_timeout
    delay, attempts = 0.05, 0
    while True:
        attempts += 1
        try:
            con.execute(sql)
            return
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise
            if stopped():
                raise WriteInterrupted(f"write interrupted while waiting for {database}: {stopped()}") from None
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"warehouse database {database} is locked by another process; gave up after "
                    f"{attempts} attempts in {lock_timeout:g}s ({first_line(e)})") from None
        time.sleep(min(delay * random.uniform(0.5, 1.0), max(deadline - time.monotonic(), 0.0)))
        delay = min(delay * 2, 1.0)


# -- reading ---------------------------------------------------------------------------


def read_access(location: OutputLocation) -> tuple[list[Path], list[Path]]:
    """(files, directories) a sandbox needs to read the output."""
    if location.is_warehouse:
        return database_files(location.path), []
    if location.is_directory:
        return [], [location.path]
    return [location.path], []


def exists(location: OutputLocation) -> bool:
    return location.path.is_dir() if location.is_directory else location.path.is_file()


@contextmanager
def reading(con: duckdb.DuckDBPyConnection, location: OutputLocation, spec: TransformationSpec, *,
            lock_timeout: float) -> Iterator[exp.Expression]:
    """A FROM-able expression over the output with the declared types (CSV and JSON are
    read with the target schema's types; a conversion failure surfaces when scanned)."""
    if location.is_warehouse:
        alias = exp.to_identifier(f"{WAREHOUSE_ALIAS}_{uuid.uuid4().hex[:8]}", quoted=True)
        attach_database(con, location.path, alias, read_only=True, lock_timeout=lock_timeout)
        schema, table = location.table.split(".", 1)
        try:
            yield _table(alias, schema, table)
        finally:
            con.execute(exp.Detach(this=alias.copy()).sql(dialect=DIALECT))
        return
    where = f"{location.path}/**/*.{location.format}" if location.is_directory else str(location.path)
    options: list[exp.Expression] = []
    if location.format in ("csv", "json"):
        types = exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.Literal.string(c.name), expression=exp.Literal.string(c.type))
            for c in spec.target_schema.columns
        ])
        options.append(exp.EQ(this=exp.var("columns"), expression=types))
        if location.format == "csv":
            options.append(exp.EQ(this=exp.var("header"), expression=exp.true()))
    if location.is_directory:
        options.append(exp.EQ(this=exp.var("hive_partitioning"), expression=exp.false()))
    reader = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}[location.format]
    yield exp.Anonymous(this=reader, expressions=[exp.Literal.string(where), *options])


def header_names(con: duckdb.DuckDBPyConnection, location: OutputLocation) -> list[str] | None:
    """The column names a CSV or JSON output actually holds (None for typed formats)."""
    if location.format not in ("csv", "json") or location.is_warehouse:
        return None
    where = f"{location.path}/**/*.{location.format}" if location.is_directory else str(location.path)
    options = [exp.EQ(this=exp.var("all_varchar"), expression=exp.true())] if location.format == "csv" else []
    if location.is_directory:
        options.append(exp.EQ(this=exp.var("hive_partitioning"), expression=exp.false()))
    reader = exp.Anonymous(this=f"read_{location.format}", expressions=[exp.Literal.string(where), *options])
    return list(con.sql(exp.select("*").from_(exp.Table(this=reader)).limit(0).sql(dialect=DIALECT)).columns)
