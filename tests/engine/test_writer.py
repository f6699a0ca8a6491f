"""Atomic writes clean up after killed runs, and never touch a live writer's temp file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from datacrew_resources.engine.writer import target_lock, temp_path_for, write_parquet

QUERY = exp.select(exp.alias_(exp.convert(1), "a"))


def stale_temp(target: Path) -> Path:
    """What a SIGKILLed write leaves behind: a half-written temp file of the target."""
    temp = temp_path_for(target)
    temp.write_bytes(b"PAR1 half a file")
    return temp


def test_a_write_removes_the_targets_stale_temp_files_only(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    stale = [stale_temp(target), stale_temp(target)]
    others = [temp_path_for(tmp_path / "other.parquet"), tmp_path / ".t.parquet.mine.tmp.parquet"]
    for path in others:
        path.write_bytes(b"not ours")
    with duckdb.connect() as con:
        result = write_parquet(con, QUERY, target)
    assert result.record_count == 1
    assert not any(p.exists() for p in stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["t.parquet", *(p.name for p in others)])


def test_a_live_writers_temp_file_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with duckdb.connect() as con:
                write_parquet(con, QUERY, target)
        except BaseException as e:  # surfaced below
            errors.append(e)

    with target_lock(target):  # another writer, mid-write
        live = stale_temp(target)
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and live.exists() and not target.exists()
    writer.join(timeout=30)
    assert not writer.is_alive() and not errors
    # Once the lock was free the file was a leftover by definition, and went.
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_a_killed_lock_holder_does_not_block_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time\n"
            "from pathlib import Path\n"
            "from datacrew_resources.engine.writer import target_lock, temp_path_for\n"
            "target = Path(sys.argv[1])\n"
            "with target_lock(target):\n"
            "    temp_path_for(target).write_bytes(b'PAR1 half a file')\n"
            "    print('ready', flush=True)\n"
            "    time.sleep(60)\n"
        ), str(target)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    assert len([p for p in tmp_path.iterdir() if p.name.endswith(".tmp.parquet")]) == 1
    with duckdb.connect() as con:
        write_parquet(con, QUERY, target)
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_an_interrupted_write_releases_the_lock(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"

    def interrupt(temp: Path) -> None:
        raise KeyboardInterrupt

    with duckdb.connect() as con, pytest.raises(KeyboardInterrupt):
        write_parquet(con, QUERY, target, verify=interrupt)
    assert list(tmp_path.iterdir()) == []
    with target_lock(target):  # would block forever if the lock were still held
        pass


def test_a_directory_swap_interrupted_between_its_renames_is_undone_by_the_next_write(tmp_path: Path) -> None:
    from datacrew_resources.engine.writer import ASIDE_SUFFIX, publish, remove_stale_temp_files

    target = tmp_path / "t"
    (target / "k=1").mkdir(parents=True)
    (target / "k=1" / "data_0.parquet").write_bytes(b"old")
    # The fallback's first rename happened (old aside), the second did not: the process died.
    aside = temp_path_for(target, ASIDE_SUFFIX)
    target.rename(aside)
    half = temp_path_for(target, ".tmp.d")
    (half / "k=2").mkdir(parents=True)
    with target_lock(target):
        remove_stale_temp_files(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    assert (target / "k=1" / "data_0.parquet").read_bytes() == b"old"
    new = temp_path_for(target, ".tmp.d")
    (new / "k=3").mkdir(parents=True)
    (new / "k=3" / "data_0.parquet").write_bytes(b"new")
    publish([(new, target)])
    assert [p.name for p in target.iterdir()] == ["k=3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
