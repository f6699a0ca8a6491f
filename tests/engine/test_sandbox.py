"""The sandbox connection itself refuses what the guard should already have stopped."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from datacrew_resources.engine.sandbox import open_sandbox
from datacrew_resources.engine.sources import SourceRef

from .helpers import AIRLINES, FLIGHTS


@pytest.fixture
def sandbox(lake: dict[str, SourceRef], tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    with open_sandbox(lake.values(), allowed_dirs=[out], temp_dir=tmp_path / "tmp",
                      memory_limit="256MB", threads=1) as con:
        yield con


def test_views_read_every_kind_of_source(sandbox: duckdb.DuckDBPyConnection) -> None:
    assert sandbox.execute('SELECT count(*) FROM "lake/flights"').fetchall() == [(len(FLIGHTS),)]
    for key in ("warehouse/airlines", "files/airlines_csv", "files/airlines_json"):
        rows = sandbox.execute(f'SELECT carrier, name FROM "{key}" ORDER BY carrier').fetchall()
        assert rows == sorted(AIRLINES)
    partitioned = sandbox.execute('SELECT DISTINCT carrier FROM "lake/by_carrier" ORDER BY 1').fetchall()
    assert partitioned == sorted({(f[1],) for f in FLIGHTS})


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
    "RESET lock_configuration",
    "SET memory_limit = '64GB'",
    "INSTALL httpfs",
    "LOAD httpfs",
])
def test_escape_attempts_fail_in_the_connection(sandbox: duckdb.DuckDBPyConnection, sql: str) -> None:
    with pytest.raises(duckdb.Error):
        sandbox.execute(sql).fetchall()


@pytest.mark.parametrize("statement", [
    "ATTACH '{outside}/escape.db' AS x",
    "COPY (SELECT 1 AS a) TO '{outside}/escape.csv'",
])
def test_files_outside_the_allowed_directories_are_not_created(
    sandbox: duckdb.DuckDBPyConnection, tmp_path: Path, statement: str
) -> None:
    # Writable for the test, not allowed to the sandbox (only out/ and tmp/ are), and
    # private to this test: a breach writes here, not in /tmp, and no stale file interferes.
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(duckdb.Error):
        sandbox.execute(statement.format(outside=outside)).fetchall()
    assert list(outside.iterdir()) == []  # no .db, .db.wal or .csv


def test_sibling_files_of_a_source_are_not_readable(sandbox, lake, tmp_path: Path) -> None:
    secret = Path(lake["lake/flights"].location).parent / "secret.csv"
    secret.write_text("a\n1\n")
    with pytest.raises(duckdb.Error):
        sandbox.execute(f"SELECT * FROM read_csv('{secret}')").fetchall()


def test_output_directory_is_writable(sandbox: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    target = tmp_path / "out" / "x.parquet"
    sandbox.execute(f"COPY (SELECT 1 AS a) TO '{target}' (FORMAT parquet)")
    assert sandbox.execute(f"SELECT a FROM read_parquet('{target}')").fetchall() == [(1,)]
    with pytest.raises(duckdb.Error):
        sandbox.execute(f"COPY (SELECT 1 AS a) TO '{tmp_path / 'outside.parquet'}' (FORMAT parquet)")
    assert not (tmp_path / "outside.parquet").exists()


def test_settings_are_applied_and_locked(sandbox: duckdb.DuckDBPyConnection) -> None:
    threads, external, locked = sandbox.execute(
        "SELECT current_setting('threads'), current_setting('enable_external_access'), "
        "current_setting('lock_configuration')").fetchall()[0]
    assert (threads, external, locked) == (1, False, True)
