"""The locked DuckDB connection every transformation runs in.

Setup order matters in DuckDB 2.0: `allowed_paths`/`allowed_directories` cannot be
changed once `enable_external_access` is false, and the views must be created while
their files are reachable. So: connect with memory/threads/spill settings, allow the
paths, create the views (attaching warehouse files read-only), then switch external
access off and lock the configuration. From then on the connection can only read the
sources and read/write the allowed files and directories; SET, INSTALL/LOAD and other
files fail.

A write's sandbox is allowed exactly its output's temp names (the staging file, the
format's temp file or temp partition directory, the quarantine temp) or, for a
warehouse table, the database file and its WAL companions: never the whole output
directory, so SQL that slipped past the guard could not overwrite a sibling output.
DuckDB always lets a connection read and write its own `temp_directory`, whatever
`allowed_directories` says. So each sandbox spills into a private directory of its
own under `temp_dir`, removed when the sandbox closes: whatever is written there
cannot reach an output, another run, or outlive the run.

A crew run keeps one sandbox for all its steps (`engine.session`): it is opened with
`create_views=False` and makes each view when a step first reads that source, which
works after the lock because the source's files are among the allowed paths. Such a
sandbox attaches a warehouse source only while a step reads it (`attach_warehouse`,
`detach_warehouse`), so it holds no lock on the database file between steps.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line

from .sources import GLOB, SourceRef, view_identifier
from .sql_guard import DIALECT

READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}


@contextmanager
def open_sandbox(
    sources: Iterable[SourceRef],
    *,
    allowed_dirs: Iterable[str | Path] = (),
    allowed_paths: Iterable[str | Path] = (),
    temp_dir: str | Path,
    memory_limit: str = "4GB",
    threads: int = 2,
    max_temp_directory_size: str = "20GB",
    create_views: bool = True,
    metadata_cache: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection with one view per source, named by its key, then locked.

    `create_views=False` only allows the sources' files (the caller makes the views
    later); `metadata_cache` keeps parquet footers between statements (DuckDB checks a
    kept footer against the file, so a file replaced meanwhile is read afresh), which
    pays in a long-lived sandbox.
    """
    refs = list(sources)
    Path(temp_dir).mkdir(parents=True, exist_ok=True)
    spill = Path(tempfile.mkdtemp(prefix="sandbox-", dir=temp_dir))
    try:
        con = duckdb.connect(":memory:", config={
            "memory_limit": memory_limit,
            "threads": threads,
            "temp_directory": str(spill),
            "max_temp_directory_size": max_temp_directory_size,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        })
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        raise
    try:
        files, dirs = _access(refs)
        directories = [_as_dir(d) for d in [*dirs, *allowed_dirs]]
        # A directory itself (to create it, as a partitioned COPY does) is a path, not a prefix.
        paths = [*files, *(str(Path(p).resolve()) for p in [*allowed_paths, *allowed_dirs])]
        # DuckDB 2.0 shows a connect-time max_temp_directory_size but applies only a SET one.
        con.execute("SET max_temp_directory_size = ?", [max_temp_directory_size])
        con.execute("SET allowed_directories = ?", [directories])
        con.execute("SET allowed_paths = ?", [paths])
        if metadata_cache:
            con.execute("SET parquet_metadata_cache = true")
        for index, ref in enumerate(refs if create_views else []):
            make_view(con, ref, index)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _as_dir(path: str | Path) -> str:
    # A trailing separator keeps `/data/out` from also allowing `/data/outside`.
    return str(Path(path).resolve()).rstrip("/") + "/"


def _access(refs: list[SourceRef]) -> tuple[list[str], list[str]]:
    """(exact files, directories) the views need: a plain file is allowed alone, a glob
    allows the directory before its first wildcard."""
    files, dirs = [], []
    for ref in refs:
        if GLOB.search(ref.location):
            prefix = GLOB.split(ref.location, maxsplit=1)[0]
            dirs.append(prefix if prefix.endswith("/") else str(Path(prefix).parent))
        else:
            files.append(str(Path(ref.location).resolve()))
            if ref.kind == "duckdb_table":
                files.append(files[-1] + ".wal")
    return files, dirs


def make_view(con: duckdb.DuckDBPyConnection, ref: SourceRef, index: int, *, attach: bool = True) -> None:
    """`create_source_view`, failing with a one-line ConfigError naming the source."""
    try:
        create_source_view(con, ref, index, attach=attach)
    except duckdb.Error as e:
        raise ConfigError(f"cannot be read: {first_line(e)}", field=ref.key, value=ref.location) from None


def warehouse_alias(index: int) -> exp.Identifier:
    """The catalog name a warehouse source's view reads through (`warehouse_<index>`)."""
    return exp.to_identifier(f"warehouse_{index}", quoted=True)


def attach_warehouse(con: duckdb.DuckDBPyConnection, ref: SourceRef, index: int) -> None:
    """ATTACH a `duckdb_table` source's database READ_ONLY under `warehouse_alias(index)`."""
    attach = exp.Attach(
        this=exp.alias_(exp.Literal.string(ref.location), warehouse_alias(index)),
        expressions=[exp.AttachOption(this=exp.var("READ_ONLY"))],
    )
    con.execute(attach.sql(dialect=DIALECT))


def detach_warehouse(con: duckdb.DuckDBPyConnection, index: int) -> None:
    con.execute(exp.Detach(this=warehouse_alias(index)).sql(dialect=DIALECT))


def create_source_view(con: duckdb.DuckDBPyConnection, ref: SourceRef, index: int, *, attach: bool = True) -> None:
    """The view named by `ref.key` that the compiled SQL reads (also used by the benchmarks);
    a warehouse source is attached first (unless `attach=False`: it already is), and stays attached."""
    if ref.kind == "duckdb_table":
        alias = warehouse_alias(index)
        if attach:
            attach_warehouse(con, ref, index)
        schema, _, table = (ref.table or "").rpartition(".")
        body = exp.select("*").from_(exp.Table(
            this=exp.to_identifier(table, quoted=True),
            db=exp.to_identifier(schema or "main", quoted=True),
            catalog=alias,
        ))
    else:
        options = [exp.Literal.string(ref.location)]
        if ref.kind == "parquet" and ref.hive_partitioning:
            options.append(exp.EQ(this=exp.var("hive_partitioning"), expression=exp.true()))
        reader = exp.Anonymous(this=READERS[ref.kind], expressions=options)
        body = exp.select("*").from_(exp.Table(this=reader))
    view = exp.Create(kind="VIEW", this=exp.Table(this=view_identifier(ref.key)), expression=body)
    con.execute(view.sql(dialect=DIALECT))
