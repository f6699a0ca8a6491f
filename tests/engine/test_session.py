"""A crew run's engine session: one sandbox for every step, the same answers, interruptible."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from datacrew_resources.config.platform import EngineConfig
from datacrew_resources.engine import Engine, SourceRef, TransformationFailed
from datacrew_resources.engine.session import SessionStopped
from datacrew_resources.engine.sources import Recorded

from .helpers import AIRLINES, FLIGHTS, make_spec

JOINED = make_spec(
    [{"filter": "dep_delay IS NOT NULL"},
     {"join": {"source": "warehouse/airlines", "on": ["carrier"], "how": "inner"}},
     {"group_by": ["carrier", "name"]},
     {"aggregate": {"flights": "count(*)"}}],
    [{"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
     {"name": "name", "type": "VARCHAR"},
     {"name": "flights", "type": "BIGINT", "min": 0}],
    sources=["lake/flights", "warehouse/airlines"],
)
LIMITS = EngineConfig(threads=1, memory_limit="256MiB", max_temp_directory_size="1GiB")


@pytest.fixture
def limited(lake: dict[str, SourceRef], tmp_path: Path) -> Engine:
    """The fixture sources, with an agent's narrower limits."""
    return Engine(lake, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp", config=LIMITS)


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.startswith("."))


def test_a_run_in_a_session_opens_one_sandbox_and_answers_as_the_engine_does(limited: Engine) -> None:
    expected_inspect = [limited.inspect(key) for key in JOINED.sources]
    expected_plan = limited.compile(JOINED)
    expected = limited.execute(JOINED, expected_plan)
    expected_bytes = Path(expected.output_path).read_bytes()
    with limited.session(JOINED) as session:
        assert [session.inspect(key) for key in JOINED.sources] == expected_inspect
        plan = session.compile()
        assert plan == expected_plan
        result = session.execute(plan)
        report = session.validate_output(result)
        assert session.opened == 1
    assert Path(result.output_path).read_bytes() == expected_bytes
    assert (result.record_count, result.report) == (expected.record_count, expected.report)
    assert report is result.report and report.ok  # the write's own check, not a second read
    assert result.preview == limited.preview_output(JOINED)
    assert temp_files(limited.output_dir) == []
    assert list(limited.temp_dir.iterdir()) == []  # the session's spill directory is gone


def test_the_session_sandbox_has_the_agents_limits_and_is_locked(limited: Engine) -> None:
    with limited.session(JOINED) as session, session.connection([]) as con:
        settings = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('threads', 'memory_limit', "
            "'max_temp_directory_size', 'enable_external_access', 'lock_configuration')").fetchall())
        with pytest.raises(duckdb.Error, match="Cannot change configuration option"):
            con.execute("SET threads = 2")
    assert (settings["threads"], settings["memory_limit"], settings["max_temp_directory_size"]) == (
        "1", "256.0 MiB", "1.0 GiB")
    assert (settings["enable_external_access"], settings["lock_configuration"]) == ("false", "true")


def test_the_session_may_write_its_temps_but_never_the_output_or_a_sibling(limited: Engine) -> None:
    output = limited.output_location(JOINED).path
    previous = limited.execute(JOINED, limited.compile(JOINED))
    before = output.read_bytes()
    with limited.session(JOINED) as session:
        session.execute(session.compile())
        with session.connection([]) as con:
            for target in (output, output.parent / "sibling.parquet", output.parent / "t.csv"):
                with pytest.raises(duckdb.Error):
                    con.execute(f"COPY (SELECT 1 AS a) TO '{target}' (FORMAT parquet)")
            with pytest.raises(duckdb.Error):
                con.execute(f"SELECT * FROM read_parquet('{output}')").fetchall()  # not even read it
    assert output.read_bytes() == before == Path(previous.output_path).read_bytes()
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]


def test_a_warehouse_source_is_attached_only_while_a_step_reads_it(limited: Engine, lake) -> None:
    database = lake["warehouse/airlines"].location
    writer = [sys.executable, "-c",
              "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('CREATE TABLE IF NOT EXISTS x AS SELECT 1')",
              database]
    with limited.session(JOINED) as session:
        assert session.inspect("warehouse/airlines")["row_count"] == len(AIRLINES)
        # Between steps another process may write the database (DuckDB locks are per process).
        done = subprocess.run(writer, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        with session.connection([lake["warehouse/airlines"]]) as con:
            held = subprocess.run(writer, capture_output=True, text=True, check=False)
            assert con.execute('SELECT count(*) FROM "warehouse/airlines"').fetchall() == [(len(AIRLINES),)]
        assert held.returncode != 0 and "lock" in held.stderr.lower()
        assert session.execute(session.compile()).record_count == 3


def test_an_unreadable_source_fails_only_the_steps_that_read_it(tmp_path: Path, lake) -> None:
    refs = {**lake, "lake/gone": SourceRef("lake/gone", "parquet", str(tmp_path / "gone.parquet"))}
    engine = Engine(refs, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")
    spec = make_spec([], [("id", "INTEGER")], sources=["lake/flights", "lake/gone"])
    with engine.session(spec) as session:
        assert session.inspect("lake/flights")["row_count"] == len(FLIGHTS)
        with pytest.raises(ValueError, match="lake/gone: .*cannot be read"):
            session.inspect("lake/gone")
        assert session.inspect("lake/flights")["row_count"] == len(FLIGHTS)


def test_inspect_takes_the_catalogs_row_count_only_while_the_file_is_unchanged(lake, tmp_path: Path) -> None:
    flights = Path(lake["lake/flights"].location)
    stat = flights.stat()
    # A count the file does not hold shows where the answer came from.
    recorded = Recorded(rows=4242, size_bytes=stat.st_size, modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC))
    ref = SourceRef("lake/flights", "parquet", str(flights), recorded=recorded)
    engine = Engine({"lake/flights": ref}, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")
    assert engine.inspect("lake/flights")["row_count"] == 4242
    os.utime(flights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert engine.inspect("lake/flights")["row_count"] == len(FLIGHTS)  # changed since: counted
    globbed = SourceRef("lake/by_carrier", "parquet", lake["lake/by_carrier"].location, hive_partitioning=True,
                        recorded=Recorded(rows=4242, size_bytes=0, modified=recorded.modified))
    assert globbed.recorded_rows() is None  # a glob may have gained or lost files


def test_validation_reads_the_output_again_once_it_is_not_the_file_execute_checked(limited: Engine) -> None:
    with limited.session(JOINED) as session:
        result = session.execute(session.compile())
        output = Path(result.output_path)
        with duckdb.connect() as con:  # someone else replaces the output meanwhile
            con.execute(f"COPY (SELECT carrier FROM read_parquet('{output}')) TO '{output}.new' (FORMAT parquet)")
        os.replace(f"{output}.new", output)
        report = session.validate_output(result)
    assert report is not result.report
    assert {(v.kind, v.column) for v in report.violations} == {("missing_column", "name"),
                                                               ("missing_column", "flights")}


def test_a_quarantining_write_is_validated_by_reading_its_output(limited: Engine) -> None:
    spec = make_spec([], [{"name": "id", "type": "INTEGER", "max": 3}, ("carrier", "VARCHAR")])
    spec = spec.model_copy(update={"target_schema": spec.target_schema.model_copy(update={"on_violation": "quarantine"})})
    with limited.session(spec) as session:
        result = session.execute(session.compile())
        report = session.validate_output(result)
    assert result.quarantined_rows == 3 and result.checked_file is None
    assert report.ok and report.row_count == 3  # the kept rows, read back
    assert len(result.preview["rows"]) == 3  # the preview shows what the output holds


# -- interrupting a write ------------------------------------------------------------------

SLOW_ROWS = 6000  # a three-way cross join of this many rows runs for minutes


@pytest.fixture
def slow(tmp_path: Path) -> tuple[Engine, object]:
    """An engine over a `SLOW_ROWS`-row table and a spec whose query runs for minutes."""
    data = tmp_path / "data"
    data.mkdir()
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT range::INTEGER AS id FROM range({SLOW_ROWS})) TO '{data / 'n.parquet'}'")
    engine = Engine({"lake/n": SourceRef("lake/n", "parquet", str(data / "n.parquet"), columns=(("id", "INTEGER"),))},
                    output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")
    spec = make_spec([{"sql": 'SELECT max(a.id * b.id - c.id) AS m FROM "lake/n" AS a, "lake/n" AS b, "lake/n" AS c'}],
                     [("m", "BIGINT")], sources=["lake/n"])
    return engine, spec


def test_an_interrupted_write_publishes_nothing_and_later_steps_are_refused(slow) -> None:
    engine, spec = slow
    previous = make_spec([{"sql": 'SELECT max(id)::BIGINT AS m FROM "lake/n"'}], [("m", "BIGINT")], sources=["lake/n"])
    engine.execute(previous, engine.compile(previous))
    output = engine.output_location(spec).path
    before = output.read_bytes()
    failures: list[BaseException] = []
    with engine.session(spec) as session:
        plan = session.compile()

        def write() -> None:
            try:
                session.execute(plan)
            except BaseException as e:  # handed to the test's thread
                failures.append(e)

        worker = threading.Thread(target=write)
        worker.start()
        while not [p for p in output.parent.iterdir() if p.name.endswith(".tmp.parquet")]:
            assert worker.is_alive(), failures  # the query runs for minutes: its temp appears first
            time.sleep(0.005)
        session.interrupt("time limit of 1s exceeded (llm.timeout_seconds)")
        worker.join()
        with pytest.raises(SessionStopped, match="engine stopped: time limit of 1s exceeded"):
            session.inspect("lake/n")
    [failure] = failures
    assert isinstance(failure, TransformationFailed)
    assert str(failure) == "t: write interrupted: time limit of 1s exceeded (llm.timeout_seconds)"
    assert output.read_bytes() == before
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no temp left
    assert engine.validate_output(previous).ok


def test_a_bad_output_path_fails_execute_not_the_steps_before_it(engine: Engine, tmp_path: Path) -> None:
    with engine.session(JOINED, tmp_path / "elsewhere.parquet") as session:
        assert session.inspect("lake/flights")["row_count"] == len(FLIGHTS)
        plan = session.compile()
        with pytest.raises(ValueError, match="output_path: .*must be inside the output directory"):
            session.execute(plan)


def test_a_source_replaced_between_steps_is_read_afresh(limited: Engine, lake) -> None:
    flights = Path(lake["lake/flights"].location)
    with limited.session(JOINED) as session:
        assert session.inspect("lake/flights")["row_count"] == len(FLIGHTS)
        with duckdb.connect() as con:  # an upstream run republishes its output meanwhile
            con.execute(f"COPY (SELECT * FROM read_parquet('{flights}') WHERE carrier = 'UA') "
                        f"TO '{flights}.new' (FORMAT parquet)")
        os.replace(f"{flights}.new", flights)
        assert session.inspect("lake/flights")["row_count"] == 2
        result = session.execute(session.compile())
    assert result.record_count == 1 and result.preview["rows"] == [["UA", "United", 2]]
