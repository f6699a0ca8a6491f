"""Partial scans: a source or dataset that cannot be scanned is reported and keeps its previous
records, the other sources are written, and `datacrew discover` exits 3."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import psycopg
import pytest
from psycopg import sql

from datacrew_assets.cli import main
from datacrew_resources.catalog.discover import CONNECTORS, PATH, Connector, discover, locate_directory
from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord
from datacrew_resources.catalog.store import CatalogStore, ScanError
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType

LAKE = SourceConfig(name="lake", type=SourceType.data_lake, uri="data/lake")
DWH = SourceConfig(name="dwh", type=SourceType.data_warehouse, uri="data/dwh.duckdb")


@pytest.fixture
def home(tmp_path, write_parquet) -> Home:
    write_parquet(tmp_path / "data" / "lake" / "sales" / "part-0.parquet", rows=4)
    (tmp_path / "data" / "lake" / "shops.csv").write_text("id,name\n1,a\n2,b\n")
    with duckdb.connect(str(tmp_path / "data" / "dwh.duckdb")) as con:
        con.execute("CREATE TABLE customers (id INTEGER); INSERT INTO customers VALUES (1), (2), (3)")
    return Home(tmp_path)


@pytest.fixture
def pg_schema(postgres_server: str) -> Iterator[str]:
    """A fresh schema with one table `pg_orders` of 2 rows; dropped afterwards."""
    name = f"partial_{uuid.uuid4().hex}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        con.execute(sql.SQL("CREATE TABLE {}.pg_orders (id INTEGER)").format(sql.Identifier(name)))
        con.execute(sql.SQL("INSERT INTO {}.pg_orders VALUES (1), (2)").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def closed_port() -> int:
    """A local port nothing listens on: bound once by us, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_netloc(url: str, netloc: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=netloc))


def config(*sources: SourceConfig) -> PlatformConfig:
    return PlatformConfig(sources=list(sources))


def catalog(home: Home) -> dict[str, int]:
    return {r.key_string: r.record_count for r in CatalogStore(home.catalog_path).all()}


def test_corrupt_parquet_marks_its_dataset_and_the_rest_is_written(home, write_parquet):
    discover(home, config(LAKE, DWH))
    sales_before = CatalogStore(home.catalog_path).get("lake/sales")
    bad = home.root / "data" / "lake" / "sales" / "part-1.parquet"
    bad.write_bytes(b"PAR1 broken")
    (home.root / "data" / "lake" / "shops.csv").write_text("id,name\n1,a\n2,b\n3,c\n")
    with duckdb.connect(str(home.root / "data" / "dwh.duckdb")) as con:
        con.execute("INSERT INTO customers VALUES (4)")

    report = discover(home, config(LAKE, DWH))

    assert report.partial
    [error] = report.errors
    assert (error.source, error.dataset) == ("lake", "sales")
    assert error.message.startswith(f"{bad}: source 'lake': ") and "\n" not in error.message
    # The bad dataset keeps exactly its previous record; the rest of the lake and the warehouse are updated.
    assert CatalogStore(home.catalog_path).get("lake/sales") == sales_before
    assert catalog(home) == {"dwh/customers": 4, "lake/sales": 4, "lake/shops": 3}
    assert [(s.name, s.datasets, s.records) for s in report.sources] == [("lake", 1, 3), ("dwh", 1, 4)]
    assert [r.key_string for r in report.records] == ["lake/sales", "lake/shops", "dwh/customers"]
    [recorded] = CatalogStore(home.catalog_path).errors()
    assert recorded.error == error
    assert (datetime.now(UTC) - recorded.recorded_at).total_seconds() >= 0

    write_parquet(bad, rows=2)
    clean = discover(home, config(LAKE, DWH))

    assert (clean.partial, clean.errors) == (False, [])
    assert CatalogStore(home.catalog_path).errors() == []
    assert catalog(home) == {"dwh/customers": 4, "lake/sales": 6, "lake/shops": 3}


def test_unreachable_server_and_bad_credentials_keep_the_servers_records(home, postgres_server, pg_schema):
    pg = SourceConfig(name="pg", type=SourceType.data_warehouse, uri=postgres_server, options={"schemas": [pg_schema]})
    discover(home, config(LAKE, pg))
    pg_before = [r for r in CatalogStore(home.catalog_path).all() if r.source == "pg"]
    assert [r.record_count for r in pg_before] == [2]
    (home.root / "data" / "lake" / "shops.csv").write_text("id,name\n1,a\n")

    port = closed_port()
    unreachable = pg.model_copy(update={"uri": with_netloc(postgres_server, f"postgres@127.0.0.1:{port}")})
    report = discover(home, config(LAKE, unreachable))

    assert report.errors == [
        ScanError(
            "pg", None,
            f"{unreachable.uri}: source 'pg': cannot connect to PostgreSQL (connection failed:"
            f' connection to server at "127.0.0.1", port {port} failed: Connection refused)',
        )
    ]
    assert [r for r in CatalogStore(home.catalog_path).all() if r.source == "pg"] == pg_before
    assert catalog(home)["lake/shops"] == 1

    host = urlsplit(postgres_server).netloc.rpartition("@")[2]
    stranger = pg.model_copy(update={"uri": with_netloc(postgres_server, f"dc_no_such_role:wrong@{host}")})
    report = discover(home, config(LAKE, stranger))

    [error] = report.errors
    host_name, _, port_number = host.partition(":")
    # The password is masked in the message.
    assert error.message == (
        f"{with_netloc(postgres_server, f'dc_no_such_role:***@{host}')}: source 'pg': cannot connect to PostgreSQL"
        f' (connection failed: connection to server at "{host_name}", port {port_number or 5432} failed:'
        ' FATAL: role "dc_no_such_role" does not exist)'
    )
    assert [r for r in CatalogStore(home.catalog_path).all() if r.source == "pg"] == pg_before
    assert [e.error for e in CatalogStore(home.catalog_path).errors()] == [error]


def test_a_connector_can_fail_single_datasets_and_keep_their_previous_records(home, monkeypatch):
    """The hook for dataset-level isolation: a scan returning `(records, errors)`."""
    scans = iter([{"a": 1, "b": 1}, {"a": 2, "b": None, "c": None}])

    def scan(source, root):
        found = next(scans)
        records = [_record(source, root / "shops.csv", name, rows) for name, rows in found.items() if rows is not None]
        errors = [ScanError(source.name, name, f"{root / name}: cannot read") for name, rows in found.items() if rows is None]
        return records, errors

    monkeypatch.setitem(CONNECTORS, (SourceType.file_systems, PATH), Connector(scan, locate_directory))
    share = SourceConfig(name="share", type=SourceType.file_systems, uri="data/lake")

    discover(home, config(share, DWH))
    report = discover(home, config(share, DWH))

    root = home.root / "data" / "lake"
    assert report.errors == [
        ScanError("share", "b", f"{root / 'b'}: cannot read"),
        ScanError("share", "c", f"{root / 'c'}: cannot read"),
    ]
    # `b` keeps its previous record; `c`, never read, has none; `a` is updated.
    assert catalog(home) == {"dwh/customers": 3, "share/a": 2, "share/b": 1}
    assert [(s.name, s.datasets, s.records) for s in report.sources] == [("share", 1, 2), ("dwh", 1, 3)]
    assert [e.error for e in CatalogStore(home.catalog_path).errors()] == report.errors


def _record(source: SourceConfig, location: Path, name: str, rows: int) -> DatasetRecord:
    """A record whose location is a real CSV file: governance samples it for PII."""
    return DatasetRecord(
        source=source.name, source_type=source.type, dataset_name=name, format="csv", location=str(location),
        columns=[ColumnInfo(name="id", type="BIGINT")], record_count=rows,
        last_updated=datetime(2026, 11, 24, tzinfo=UTC),
    )


def test_unknown_source_name_still_refuses_the_whole_scan(home):
    discover(home, config(LAKE))

    with pytest.raises(ConfigError, match="no such source"):
        discover(home, config(LAKE, DWH), sources=["dwh", "nope"])

    assert catalog(home) == {"lake/sales": 4, "lake/shops": 2}
    assert CatalogStore(home.catalog_path).errors() == []


def test_cli_prints_errors_after_the_datasets_and_exits_3(home, capsys):
    port = closed_port()
    home.config_path.write_text(
        "sources:\n"
        "  - {name: lake, type: data_lake, uri: data/lake}\n"
        f"  - {{name: pg, type: data_warehouse, uri: 'postgresql://postgres@127.0.0.1:{port}/test'}}\n"
        "  - {name: dwh, type: data_warehouse, uri: data/gone.duckdb}\n"
        f"  - {{name: bus, type: streaming, uri: 'nats://127.0.0.1:{port}', options: {{streams: [FLIGHTS]}}}}\n"
    )

    code = main(["discover", "--home", str(home.root)])
    out = capsys.readouterr().out.splitlines()

    assert code == 3
    assert [line.split()[0] for line in out[:2]] == ["lake/sales", "lake/shops"]
    assert out[2] == "partial scan: 3 error(s); the previous catalog entries of what failed are kept"
    assert out[3] == (
        f"error pg: postgresql://postgres@127.0.0.1:{port}/test: source 'pg': cannot connect to PostgreSQL"
        f' (connection failed: connection to server at "127.0.0.1", port {port} failed: Connection refused)'
    )
    assert out[4] == (
        "error dwh: datacrew.yaml: sources.dwh.uri: 'data/gone.duckdb': source 'dwh': path does not exist"
        f" ({home.root / 'data' / 'gone.duckdb'})"
    )
    assert out[5] == (
        f"error bus: nats://127.0.0.1:{port}: source 'bus': cannot connect to NATS"
        f" ([Errno 111] Connect call failed ('127.0.0.1', {port}))"
    )
    assert len(out) == 6

    code = main(["discover", "--home", str(home.root), "--json"])
    payload = json.loads(capsys.readouterr().out)

    assert code == 3
    assert [d["asset_key"] for d in payload["datasets"]] == ["lake/sales", "lake/shops"]
    assert [(e["source"], e["dataset"]) for e in payload["errors"]] == [("pg", None), ("dwh", None), ("bus", None)]
    assert payload["errors"][1]["message"] == out[4].removeprefix("error dwh: ")


def test_invalid_config_still_exits_2_and_writes_nothing(home, capsys):
    home.config_path.write_text("sources:\n  - {name: lake, type: data_lake}\n")

    code = main(["discover", "--home", str(home.root)])

    assert code == 2
    assert not home.catalog_path.exists()
