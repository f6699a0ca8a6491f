"""Faults: SIGKILL mid-write, two writers of one target at once, a warehouse held by another process.

Writers run in subprocesses (a SIGKILL must hit a real process, and two writers must
be two processes for `flock` and DuckDB's file lock to mean anything). Nothing here
asserts on elapsed time: the kill test polls for the temp file under a generous
deadline, and the warehouse test releases the holder when the writer first backs off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from datacrew_resources.config.spec import TransformationSpec
from datacrew_resources.engine import Engine, SourceRef, TransformationFailed, outputs

DEADLINE = 120.0  # seconds; only ever reached when something is broken
ROWS = 3_000_000  # a few seconds of writing with the hashes below: a wide window for the kill

WORKER = """
import json, sys, time
from pathlib import Path
from datacrew_resources.config.spec import TransformationSpec
from datacrew_resources.engine import Engine, SourceRef
args = json.loads(sys.argv[1])
sources = {k: SourceRef(**v) for k, v in args["sources"].items()}
engine = Engine(sources, output_dir=args["out"], temp_dir=args["tmp"])
spec = TransformationSpec.model_validate(args["spec"])
plan = engine.compile(spec)
go = args.get("go")
print("ready", flush=True)
while go and not Path(go).exists():
    time.sleep(0.001)
result = engine.execute(spec, plan)
print(json.dumps({"record_count": result.record_count}), flush=True)
"""


def spec(rules: list, columns: list, **output) -> TransformationSpec:
    return TransformationSpec.model_validate({
        "name": "t", "type": "etl", "sources": ["lake/big"], "rules": rules,
        "target_schema": {"columns": [{"name": n, "type": t} for n, t in columns]},
        "output": output or {"format": "parquet"},
    })


HEAVY = spec([{"derive": {"h": "md5(id::VARCHAR) || md5((id + 1)::VARCHAR)"}}],
             [("id", "BIGINT"), ("k", "INTEGER"), ("h", "VARCHAR")])
HEAVY_PARTITIONED = HEAVY.model_copy(update={"output": HEAVY.output.model_validate(
    {"format": "parquet", "partition_by": ["k"]})})
SMALL = spec([{"filter": "id < 10"}], [("id", "BIGINT"), ("k", "INTEGER")])


@pytest.fixture
def big(tmp_path: Path) -> dict[str, SourceRef]:
    path = tmp_path / "data" / "big.parquet"
    path.parent.mkdir()
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT range::BIGINT AS id, (range % 7)::INTEGER AS k FROM range({ROWS})) "
                    f"TO '{path}' (FORMAT parquet)")
    return {"lake/big": SourceRef("lake/big", "parquet", str(path))}


def engine_for(sources: dict[str, SourceRef], tmp_path: Path, **kwargs) -> Engine:
    return Engine(sources, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp", **kwargs)


def start_worker(sources, tmp_path: Path, spec: TransformationSpec, go: Path | None = None) -> subprocess.Popen:
    args = {"sources": {k: {"key": r.key, "kind": r.kind, "location": r.location, "table": r.table}
                        for k, r in sources.items()},
            "out": str(tmp_path / "out"), "tmp": str(tmp_path / "tmp"),
            "spec": spec.model_dump(mode="json"), "go": str(go) if go else None}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(args)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    return worker


def temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob(".*") if ".tmp" in p.name or p.name.endswith((".lock", ".old"))]


def snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("heavy, temp_glob", [
    (HEAVY, ".t.parquet.*.tmp.parquet"),  # killed while the staging file is written
    (HEAVY_PARTITIONED, ".t.*.tmp.d"),  # killed while the partition directory is written
], ids=["file", "partition-directory"])
def test_a_sigkilled_write_leaves_the_previous_output_and_the_next_run_succeeds(
        big, tmp_path: Path, heavy: TransformationSpec, temp_glob: str) -> None:
    engine = engine_for(big, tmp_path)
    previous = heavy.model_copy(update={"rules": [*heavy.rules, *SMALL.rules]})
    engine.execute(previous, engine.compile(previous))
    location = engine.output_location(heavy)
    before = snapshot(location.path)
    worker = start_worker(big, tmp_path, heavy)
    deadline = time.monotonic() + DEADLINE
    try:
        while not list(location.path.parent.glob(temp_glob)):
            assert worker.poll() is None, f"the write ended before its temp appeared: {worker.stderr.read()}"
            assert time.monotonic() < deadline, "no temp file appeared"
            time.sleep(0.002)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=DEADLINE)
    assert worker.returncode == -signal.SIGKILL
    assert list(location.path.parent.glob(temp_glob))  # the kill left its temp behind
    assert snapshot(location.path) == before  # ... and the previous output untouched
    assert engine.validate_output(previous).ok
    result = engine.execute(heavy, engine.compile(heavy))
    assert result.record_count == ROWS and engine.validate_output(heavy).ok
    assert temp_files(tmp_path / "out") == []


def test_two_processes_writing_one_target_at_once_leave_one_complete_output(big, tmp_path: Path) -> None:
    # Each side writes a recognisable result (all ids even, or all odd) of a different size.
    evens = spec([{"filter": "id % 2 = 0"}, {"derive": {"h": "md5(id::VARCHAR)"}}],
                 [("id", "BIGINT"), ("h", "VARCHAR")])
    odds = spec([{"filter": "id % 2 = 1 AND id < 1000"}, {"derive": {"h": "md5(id::VARCHAR)"}}],
                [("id", "BIGINT"), ("h", "VARCHAR")])
    go = tmp_path / "go"
    workers = [start_worker(big, tmp_path, s, go) for s in (evens, odds)]
    go.touch()  # both are past compile and start executing together
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=DEADLINE)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["record_count"] for r in results] == [ROWS // 2, 500]
    path = tmp_path / "out" / "transformed" / "t.parquet"
    with duckdb.connect() as con:
        count, parities = con.execute(
            f"SELECT count(*), list(DISTINCT id % 2) FROM read_parquet('{path}')").fetchall()[0]
    assert (count, parities) in [(ROWS // 2, [0]), (500, [1])]  # one whole result, never a mix
    assert engine_for(big, tmp_path).validate_output(evens, path).ok
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.parquet"]


HOLDER = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS other AS SELECT 1 AS x")
print("holding", flush=True)
sys.stdin.readline()
con.close()
"""


def hold(database: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(database)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


def release(holder: subprocess.Popen) -> None:
    if holder.poll() is None:
        holder.stdin.write("\n")
        holder.stdin.flush()
    holder.wait(timeout=DEADLINE)


WAREHOUSE = spec([{"filter": "id < 100"}], [("id", "BIGINT"), ("k", "INTEGER")], format="warehouse")


def test_a_warehouse_held_by_another_writer_fails_with_one_line_after_retrying(big, tmp_path: Path) -> None:
    engine = engine_for(big, tmp_path, warehouse_lock_timeout=0.3)
    engine.execute(WAREHOUSE, engine.compile(WAREHOUSE))
    database = tmp_path / "out" / "warehouse.duckdb"
    holder = hold(database)
    try:
        with pytest.raises(TransformationFailed) as caught:
            engine.execute(WAREHOUSE, engine.compile(WAREHOUSE))
    finally:
        release(holder)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"t: warehouse database {database} is locked by another process; gave up after ")
    with duckdb.connect(str(database), read_only=True) as con:  # the table is as the first run left it
        assert con.execute("SELECT count(*) FROM transformed.t").fetchall() == [(100,)]
    assert sorted(p.name for p in database.parent.iterdir()) == ["warehouse.duckdb"]  # no staging left


def test_a_warehouse_writer_waits_for_the_other_writer_and_then_succeeds(
        big, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_for(big, tmp_path, warehouse_lock_timeout=DEADLINE)
    database = tmp_path / "out" / "warehouse.duckdb"
    database.parent.mkdir()
    holder = hold(database)
    backoffs: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:  # the writer backs off: the lock was really in the way
        if threading.current_thread() is threading.main_thread():
            backoffs.append(seconds)
            if len(backoffs) == 2:
                release(holder)  # the other writer finishes while we wait
        real_sleep(seconds)

    monkeypatch.setattr(outputs.time, "sleep", sleep)
    try:
        result = engine.execute(WAREHOUSE, engine.compile(WAREHOUSE))
    finally:
        release(holder)
    assert len(backoffs) >= 2 and result.record_count == 100
    with duckdb.connect(str(database), read_only=True) as con:
        tables = sorted(con.execute("SELECT table_name FROM duckdb_tables()").fetchall())
    assert tables == [("other",), ("t",)]  # the other writer's work survives too


def warehouse_held(database: Path) -> bool:
    """True while another process has the database open for writing (its load is under way)."""
    try:
        duckdb.connect(str(database), read_only=True).close()
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            return True
        raise
    return False


def test_a_sigkilled_warehouse_load_leaves_the_previous_table_and_the_next_run_succeeds(
        big, tmp_path: Path) -> None:
    heavy = HEAVY.model_copy(update={"output": HEAVY.output.model_validate({"format": "warehouse"})})
    previous = heavy.model_copy(update={"rules": [*heavy.rules, *SMALL.rules]})
    engine = engine_for(big, tmp_path)
    engine.execute(previous, engine.compile(previous))
    database = tmp_path / "out" / "warehouse.duckdb"
    worker = start_worker(big, tmp_path, heavy)
    deadline = time.monotonic() + DEADLINE
    try:
        while not warehouse_held(database):  # staging is written first; the kill hits the load
            assert worker.poll() is None, f"the write ended before it loaded: {worker.stderr.read()}"
            assert time.monotonic() < deadline, "the worker never opened the warehouse"
            time.sleep(0.002)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=DEADLINE)
    assert worker.returncode == -signal.SIGKILL
    with duckdb.connect(str(database), read_only=True) as con:  # WAL replay: the old table, whole
        assert con.execute("SELECT count(*), max(id) FROM transformed.t").fetchall() == [(10, 9)]
    result = engine.execute(heavy, engine.compile(heavy))
    assert result.record_count == ROWS
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM transformed.t").fetchall() == [(ROWS,)]
