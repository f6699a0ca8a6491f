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


def test_a_write_sandbox_may_write_only_its_output_location(lake, tmp_path: Path) -> None:
    from datacrew_resources.engine.outputs import OutputLocation, Staging, sandbox_access

    out = tmp_path / "out"
    out.mkdir()
    locations = [OutputLocation("parquet", out / "t.parquet", quarantine=True),
                 OutputLocation("csv", out / "p", partition_by=("carrier",)),
                 OutputLocation("warehouse", out / "w.duckdb", table="main.t")]
    for location in locations:
        staging = Staging.fresh(location)
        files, dirs = sandbox_access(location, staging)
        with open_sandbox(lake.values(), allowed_dirs=dirs, allowed_paths=files, temp_dir=tmp_path / "tmp",
                          memory_limit="256MB", threads=1) as con:
            con.execute(f"COPY (SELECT 1 AS a) TO '{staging.stage}' (FORMAT parquet)")
            if location.is_directory:
                con.execute(f"COPY (SELECT 'AA' AS carrier, 1 AS a) TO '{staging.main}' "
                            "(FORMAT csv, PARTITION_BY (carrier))")
            if location.is_warehouse:
                con.execute(f"ATTACH '{location.path}' AS w")
                con.execute("CREATE TABLE w.t AS SELECT 1 AS a")
                con.execute("DETACH w")
            for forbidden in (location.path, out / "sibling.parquet", out / ".t.parquet.lock"):
                if location.is_warehouse and forbidden == location.path:
                    continue
                with pytest.raises(duckdb.Error):
                    con.execute(f"COPY (SELECT 1 AS a) TO '{forbidden}' (FORMAT parquet)")
            with pytest.raises(duckdb.Error):
                con.execute(f"ATTACH '{out / 'other.duckdb'}' AS x")
        assert not (out / "sibling.parquet").exists() and not (out / "other.duckdb").exists()


def test_each_sandbox_spills_into_a_private_directory_removed_on_close(tmp_path: Path) -> None:
    # DuckDB lets a connection write its own temp_directory whatever allowed_directories
    # says; a private spill directory per sandbox keeps such writes from outliving it.
    with open_sandbox([], temp_dir=tmp_path / "tmp", memory_limit="32MB", threads=1) as con:
        spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
        assert spill.parent == tmp_path / "tmp" and spill.is_dir()
        rows = con.execute("SELECT count(*) FROM (SELECT md5(range::VARCHAR) AS m FROM range(2000000) "
                           "ORDER BY m)").fetchall()
        with pytest.raises(duckdb.Error):
            con.execute(f"COPY (SELECT 1 AS a) TO '{tmp_path / 'tmp' / 'x.parquet'}' (FORMAT parquet)")
    assert rows == [(2000000,)]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_run_limits_are_the_connection_settings(tmp_path) -> None:
    from datacrew_resources.engine.sandbox import open_sandbox

    with open_sandbox([], temp_dir=tmp_path, memory_limit="512MiB", threads=1, max_temp_directory_size="1GiB") as con:
        settings = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('threads', 'memory_limit', 'max_temp_directory_size')"
        ).fetchall())
    assert settings["threads"] == "1"
    assert settings["memory_limit"].startswith("512")
    assert settings["max_temp_directory_size"].startswith("1")


SPILLING = "SELECT count(*) FROM (SELECT md5(range::VARCHAR) AS h, count(*) FROM range(2000000) GROUP BY h)"


def test_the_temp_directory_limit_is_enforced_not_only_shown(tmp_path):
    with open_sandbox([], temp_dir=tmp_path, memory_limit="32MB", threads=1, max_temp_directory_size="1MB") as con:
        with pytest.raises(duckdb.OutOfMemoryException, match="failed to offload data block"):
            con.execute(SPILLING).fetchall()
    with open_sandbox([], temp_dir=tmp_path, memory_limit="32MB", threads=1, max_temp_directory_size="4GB") as con:
        assert con.execute(SPILLING).fetchall() == [(2_000_000,)]  # the same query spills and completes
