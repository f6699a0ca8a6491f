"""The process's local Spark: one JVM, started on first use, shared by every Spark write.

Starting Spark costs seconds (a JVM), so it starts once, with the settings of the first
engine that needs it: `local[threads]` and a driver heap of `memory_limit`. Each write
then works in a `newSession()` of its own: temp views and SQL settings are private to
the write, the JVM and its executors are shared.

Nothing reaches the network: no packages are resolved (`spark.jars.packages` empty), no
UI is served, the driver binds to 127.0.0.1, the catalog is in memory (no Hive, no
Derby metastore) and Spark's scratch, warehouse and Derby directories live in one
temporary directory removed by `stop_spark`. The JVM runs in its own process group;
`stop_spark` (also registered at exit) ends it.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from datacrew_resources.config.platform import EngineConfig, size_bytes

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG_CONFIG = "log4j2.properties"
# Spark logs errors only, to stderr (its default prints INFO and WARN lines on every start).
LOG_SETTINGS = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""

_lock = threading.Lock()
_started: tuple[SparkSession, str] | None = None  # the session and its scratch directory


def spark_settings(config: EngineConfig, scratch: str) -> dict[str, str]:
    """The Spark configuration of the local session (see the module docstring)."""
    heap_mib = max(int(size_bytes(config.memory_limit) / 2**20), 512)
    return {
        "spark.master": f"local[{config.threads}]",
        "spark.app.name": "datacrew",
        "spark.driver.memory": f"{heap_mib}m",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.jars.packages": "",
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": os.path.join(scratch, "warehouse"),
        "spark.local.dir": os.path.join(scratch, "local"),
        "spark.driver.extraJavaOptions": (f"-Dderby.system.home={os.path.join(scratch, 'derby')} "
                                          f"-Dlog4j2.configurationFile=file:{os.path.join(scratch, LOG_CONFIG)}"),
        # Small inputs dominate here: 200 shuffle partitions would mean 200 tiny tasks.
        "spark.sql.shuffle.partitions": str(max(config.threads * 2, 2)),
        "spark.sql.session.timeZone": "UTC",
        # Micros, as DuckDB writes them (the default INT96 reads back as a naive TIMESTAMP).
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }


def spark_session(config: EngineConfig | None = None) -> SparkSession:
    """The process's SparkSession, started with `config` (default settings) if not yet running."""
    global _started
    with _lock:
        if _started is not None:
            return _started[0]
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway
        from pyspark.sql import SparkSession

        scratch = tempfile.mkdtemp(prefix="datacrew-spark-")
        try:
            with open(os.path.join(scratch, LOG_CONFIG), "w") as file:
                file.write(LOG_SETTINGS)
            conf = SparkConf(loadDefaults=False).setAll(list(spark_settings(config or EngineConfig(), scratch).items()))
            with _environment("SPARK_LOCAL_IP", "127.0.0.1"):
                gateway = launch_gateway(conf, popen_kwargs={"start_new_session": True})
            context = SparkContext(conf=conf, gateway=gateway)
            session = SparkSession(context)
            # The engine turns Spark's errors into one-line failures; pyspark would also log
            # each one, Java stack and all, at ERROR.
            for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        _started = (session, scratch)
        return session


def stop_spark() -> None:
    """Stop the session, end the JVM's process group and remove Spark's scratch directory."""
    global _started
    with _lock:
        if _started is None:
            return
        session, scratch = _started
        _started = None
        from pyspark import SparkContext

        gateway = SparkContext._gateway
        try:
            session.stop()
        finally:
            process: subprocess.Popen | None = getattr(gateway, "proc", None)
            if gateway is not None:
                gateway.shutdown()
            SparkContext._gateway = None
            SparkContext._jvm = None
            if process is not None:
                _end_group(process)
            shutil.rmtree(scratch, ignore_errors=True)


def _end_group(process: subprocess.Popen) -> None:
    """SIGTERM the JVM's process group, SIGKILL it if it has not exited within 10 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass  # already gone


@contextmanager
def _environment(key: str, value: str) -> Iterator[None]:
    """Set one environment variable for the JVM's launch only (pyspark passes os.environ on)."""
    saved = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


atexit.register(stop_spark)
