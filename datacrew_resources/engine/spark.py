"""`engine: spark`: the compiled plan run by Spark (local mode) into the write's staging file.

`Engine.write` runs step 1 of a write (the query into the parquet staging file) on the
engine the spec selects; every later step (the target_schema check, quarantine, the
output's format, the atomic rename) is the same code on the same file, so outputs,
asset checks and lineage cannot tell the engines apart. What happens here:

1. The query, already through the SQL guard (`check_query`), is rewritten for Spark
   SQL (`spark_sql.spark_query`); functions Spark lacks are named before anything runs.
2. Each source becomes a temp view, in a Spark session of the write's own, over the
   files DuckDB reads: parquet (a hive-partitioned glob from its root, so Spark finds
   the partitions), CSV and JSON (parsed with the column types DuckDB found). A DuckDB
   warehouse table, which Spark cannot open, is streamed out of the write's DuckDB
   sandbox into a parquet file first. Every column is cast to the type the plan was
   compiled against, so both engines compute on the same types.
3. Spark writes part files into a scratch directory under the engine's temp
   directory; they are joined in order, one row group at a time, into the staging file.

`stopped()` returning a reason (the run's time limit) interrupts the Spark job.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import first_line
from datacrew_resources.config.platform import EngineConfig
from datacrew_resources.config.spec import TransformationSpec

from .sources import GLOB, SourceRef, view_identifier
from .spark_session import spark_session
from .spark_sql import SPARK, UnsupportedFeature, missing_function, spark_query, spark_sql, spark_type
from .sql_guard import DIALECT, check_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EXPORT_BATCH_ROWS = 100_000
STOP_POLL_SECONDS = 0.2


class SparkFailed(RuntimeError):
    """Spark could not run the plan (one line, naming the feature or the failure)."""


def run_query(
    con: duckdb.DuckDBPyConnection,
    spec: TransformationSpec,
    query: exp.Query,
    refs: list[SourceRef],
    stage: Path,
    *,
    config: EngineConfig,
    temp_dir: Path,
    stopped: Callable[[], str | None] = lambda: None,
) -> int:
    """Run `query` over `refs` with Spark into the parquet file `stage`; returns its row count.

    `con` is the write's DuckDB sandbox, with a view over every ref (warehouse tables are
    read through it).
    """
    target = [(c.name, check_type(c.type, field="target_schema")) for c in spec.target_schema.columns]
    try:
        tree = spark_query(query, target)
        sql = spark_sql(tree)
    except UnsupportedFeature as e:
        raise SparkFailed(f"engine spark cannot run it: {e}") from None
    session = _session(config)
    missing = missing_function(tree, session.catalog.functionExists)
    if missing is not None:
        raise SparkFailed(f"engine spark cannot run it: function {missing} is not in Spark SQL")
    scratch = Path(tempfile.mkdtemp(prefix="spark-", dir=temp_dir))
    try:
        for ref in refs:
            _register(session, con, ref, scratch)
        result = _analysed(session, sql)
        parts = scratch / "result"
        _write(session, result, parts, stopped)
        return _join_parts(sorted(parts.glob("part-*.parquet")), stage)
    finally:
        for ref in refs:
            session.catalog.dropTempView(_view_name(ref.key))
        shutil.rmtree(scratch, ignore_errors=True)


def _session(config: EngineConfig) -> SparkSession:
    """A Spark session of this write's own (its temp views are private to it)."""
    from pyspark.errors import PySparkException

    try:
        return spark_session(config).newSession()
    except (PySparkException, OSError) as e:  # no Java, or the JVM died on start
        raise SparkFailed(f"engine spark cannot start: {first_line(e)}") from None


def _view_name(key: str) -> str:
    """The name Spark's catalog parses back to the key (`lake/flights` needs backticks)."""
    return view_identifier(key).sql(dialect=SPARK)


def _analysed(session: SparkSession, sql: str) -> DataFrame:
    """The plan as a Spark DataFrame (Spark analyses it here, before reading any data)."""
    from pyspark.errors import PySparkException

    try:
        return session.sql(sql)
    except PySparkException as e:
        raise SparkFailed(f"engine spark cannot run it: {first_line(e)}") from None


def _write(session: SparkSession, result: DataFrame, parts: Path, stopped: Callable[[], str | None]) -> None:
    """Write `result` as parquet part files into `parts`, cancelled when `stopped()` says so.

    The job runs in a job group of its own (set on this thread's JVM thread), which a
    watcher cancels; session tags (`interruptTag`) do not reach a DataFrame write's jobs.
    """
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    context = session.sparkContext
    group = f"datacrew-{uuid.uuid4().hex}"
    done = threading.Event()

    def watch() -> None:
        while not done.wait(STOP_POLL_SECONDS):
            if stopped():  # again on every poll: a job the group starts later is cancelled too
                context.cancelJobGroup(group)

    watcher = threading.Thread(target=watch, name=f"{group}-watch", daemon=True)
    context.setJobGroup(group, "datacrew transformation", interruptOnCancel=True)
    watcher.start()
    try:
        if stopped():
            raise SparkFailed(f"interrupted: {stopped()}")
        result.write.mode("errorifexists").parquet(str(parts))
    except (PySparkException, Py4JError) as e:
        raise SparkFailed(f"execution failed: {first_line(e)}") from None
    finally:
        done.set()
        watcher.join()
        context.setLocalProperty("spark.jobGroup.id", None)  # later jobs of this thread are not in it


def _join_parts(parts: list[Path], stage: Path) -> int:
    """Copy the part files' row groups, in order, into one zstd parquet file; returns the rows."""
    import pyarrow.parquet as pq

    if not parts:
        raise SparkFailed("execution failed: Spark wrote no part file")
    schema = pq.read_schema(parts[0]).remove_metadata()  # Spark's own schema JSON: not ours to keep
    rows = 0
    with pq.ParquetWriter(stage, schema, compression="zstd") as writer:
        for part in parts:
            file = pq.ParquetFile(part)
            for index in range(file.num_row_groups):
                group = file.read_row_group(index).replace_schema_metadata(None)
                writer.write_table(group)
                rows += group.num_rows
    return rows


# -- sources --------------------------------------------------------------------------


def _register(session: SparkSession, con: duckdb.DuckDBPyConnection, ref: SourceRef, scratch: Path) -> None:
    """The temp view the plan reads `ref` through; a source Spark cannot read fails naming it."""
    from pyspark.errors import PySparkException

    try:
        _source_frame(session, con, ref, scratch).createOrReplaceTempView(_view_name(ref.key))
    except PySparkException as e:
        raise SparkFailed(f"engine spark cannot read source {ref.key}: {first_line(e)}") from None


def _source_frame(session: SparkSession, con: duckdb.DuckDBPyConnection, ref: SourceRef,
                  scratch: Path) -> DataFrame:
    """A DataFrame over `ref`'s data with the column types the plan was compiled against."""
    if ref.kind == "duckdb_table":
        frame = session.read.parquet(str(_export(con, ref, scratch)))
    elif ref.kind == "parquet":
        path, options = _file_paths(ref.location, hive=ref.hive_partitioning)
        frame = session.read.options(**options).parquet(path)
    elif ref.kind in ("csv", "json"):
        path, options = _file_paths(ref.location)
        if ref.columns:
            options["schema"] = _schema_ddl(ref)
        else:
            options["inferSchema"] = "true"
        options["mode"] = "FAILFAST"  # a value that does not parse fails, as in DuckDB
        if ref.kind == "csv":
            frame = session.read.csv(path, header=True, escape='"', **options)
        else:
            frame = session.read.json(path, multiLine=_json_array(ref.location), **options)
    else:
        raise SparkFailed(f"engine spark cannot run it: source {ref.key} is a {ref.kind} source")
    return _typed(frame, ref)


def _file_paths(location: str, *, hive: bool = False) -> tuple[str, dict[str, str]]:
    """(path, reader options) Spark reads a file or glob with. A `**` glob (any depth) is its
    root directory and the last component's pattern: searched recursively, or, for hive
    partitions, with the partition directories discovered as columns (as DuckDB does)."""
    if "**" not in location:
        if GLOB.search(location):
            return location, {"basePath": _root(location)} if hive else {}
        return location, {}
    root = _root(location)
    options = {"pathGlobFilter": Path(location).name}
    options.update({"basePath": root} if hive else {"recursiveFileLookup": "true"})
    return root, options


def _root(location: str) -> str:
    """The directory before the first wildcard of a glob."""
    prefix = GLOB.split(location, maxsplit=1)[0]
    return prefix.rstrip("/") if prefix.endswith("/") else str(Path(prefix).parent)


def _json_array(location: str) -> bool:
    """Whether the (first) JSON file is one array rather than newline-delimited records."""
    path = Path(location)
    if GLOB.search(location):
        path = next(Path(_root(location)).rglob(Path(location).name), path)
    try:
        with open(path, "rb") as file:
            head = file.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"[")


def _schema_ddl(ref: SourceRef) -> str:
    return ", ".join(f"{_quoted(name)} {_spark_type(ref, name, kind)}" for name, kind in ref.columns)


def _typed(frame: DataFrame, ref: SourceRef) -> DataFrame:
    """`frame`'s columns, in `ref.columns` order, cast to their compiled types."""
    if not ref.columns:
        return frame
    return frame.selectExpr(*(f"CAST({_quoted(name)} AS {_spark_type(ref, name, kind)}) AS {_quoted(name)}"
                              for name, kind in ref.columns))


def _spark_type(ref: SourceRef, name: str, kind: str) -> str:
    where = f"column {name!r} of source {ref.key}"
    try:
        return spark_type(check_type(kind, field=where), where=where).sql(dialect=SPARK)
    except UnsupportedFeature as e:
        raise SparkFailed(f"engine spark cannot run it: {e}") from None


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=SPARK)


def _export(con: duckdb.DuckDBPyConnection, ref: SourceRef, scratch: Path) -> Path:
    """Stream a warehouse table out of the DuckDB sandbox into a parquet file Spark can read."""
    import pyarrow.parquet as pq

    path = scratch / f"source-{uuid.uuid4().hex}.parquet"
    select = exp.select("*").from_(exp.Table(this=view_identifier(ref.key))).sql(dialect=DIALECT)
    reader = con.sql(select).to_arrow_reader(EXPORT_BATCH_ROWS)
    with pq.ParquetWriter(path, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    return path
