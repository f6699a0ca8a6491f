from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from datacrew_resources.catalog.discover import CONNECTORS, PATH, Connector, discover, locate_url, uri_scheme
from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord, StreamPosition
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType


@pytest.fixture
def home(tmp_path, write_parquet):
    write_parquet(tmp_path / "data" / "lake" / "sales" / "year=2024" / "part-0.parquet", rows=4)
    (tmp_path / "data" / "lake" / "shops.csv").write_text("id,name\n1,a\n2,b\n")
    with duckdb.connect(str(tmp_path / "data" / "dwh.duckdb")) as con:
        con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY); INSERT INTO customers VALUES (1), (2), (3)")
    return Home(tmp_path)


def config(*sources: SourceConfig) -> PlatformConfig:
    return PlatformConfig(sources=list(sources))


LAKE = SourceConfig(name="lake", type=SourceType.data_lake, uri="data/lake")
DWH = SourceConfig(name="dwh", type=SourceType.data_warehouse, uri="data/dwh.duckdb")


def keys(home: Home) -> list[str]:
    return [r.key_string for r in CatalogStore(home.catalog_path).all()]


def test_discover_writes_every_source_and_reports(home):
    report = discover(home, config(LAKE, DWH))

    assert keys(home) == ["dwh/customers", "lake/sales", "lake/shops"]
    assert [(s.name, s.datasets, s.records) for s in report.sources] == [("lake", 2, 6), ("dwh", 1, 3)]
    assert [r.key_string for r in report.records] == ["lake/sales", "lake/shops", "dwh/customers"]
    assert report.seconds >= sum(s.seconds for s in report.sources)


def test_discover_only_named_sources(home):
    discover(home, config(LAKE, DWH), sources=["dwh"])
    assert keys(home) == ["dwh/customers"]

    with pytest.raises(ConfigError, match="no such source"):
        discover(home, config(LAKE, DWH), sources=["nope"])


def test_every_source_type_has_a_connector():
    assert {source_type for source_type, _ in CONNECTORS} == set(SourceType)


def test_uri_scheme_without_a_connector_names_the_uri(home):
    stream = SourceConfig(name="clicks", type=SourceType.streaming, uri="kafka://localhost:9092/clicks")

    [error] = discover(home, config(LAKE, stream)).errors

    assert (error.source, error.dataset) == ("clicks", None)
    assert "\n" not in error.message
    assert "sources.clicks.uri: 'kafka://localhost:9092/clicks'" in error.message
    assert "streaming sources cannot be read from 'kafka' uris (supported: path" in error.message
    assert keys(home) == ["lake/sales", "lake/shops"]


def test_uri_scheme():
    assert uri_scheme("data/lake") == PATH
    assert uri_scheme("/srv/share") == PATH
    assert uri_scheme("nats://127.0.0.1:4222/FLIGHTS") == "nats"
    assert uri_scheme("REDIS://127.0.0.1:6379/0?stream=events") == "redis"


def test_missing_source_path_names_source_and_uri_and_keeps_catalog(home):
    discover(home, config(LAKE, DWH))
    gone = SourceConfig(name="dwh", type=SourceType.data_warehouse, uri="data/gone.duckdb")

    [error] = discover(home, config(LAKE, gone)).errors

    message = error.message
    assert "\n" not in message
    assert "sources.dwh.uri" in message and "'data/gone.duckdb'" in message and "does not exist" in message
    assert keys(home) == ["dwh/customers", "lake/sales", "lake/shops"]


def test_warehouse_uri_that_is_a_directory_is_refused(home):
    wrong = SourceConfig(name="dwh", type=SourceType.data_warehouse, uri="data/lake")
    [error] = discover(home, config(wrong)).errors
    assert "expected a DuckDB database file" in error.message


def test_corrupt_parquet_keeps_the_previous_record_of_its_dataset(home):
    discover(home, config(LAKE, DWH))
    before = CatalogStore(home.catalog_path).all()
    bad = home.root / "data" / "lake" / "sales" / "year=2025" / "part-0.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1 broken")

    [error] = discover(home, config(LAKE, DWH)).errors

    assert (error.source, error.dataset) == ("lake", "sales")
    assert str(bad) in error.message and "\n" not in error.message
    assert CatalogStore(home.catalog_path).all() == before


def test_vanished_dataset_is_removed_on_rediscovery(home):
    discover(home, config(LAKE))
    (home.root / "data" / "lake" / "shops.csv").unlink()

    discover(home, config(LAKE))

    assert keys(home) == ["lake/sales"]


def test_clashing_warehouse_names_are_a_config_error_and_keep_the_catalog(home):
    """Two tables named alike used to reach the store and fail there with an IntegrityError."""
    discover(home, config(LAKE, DWH))
    before = CatalogStore(home.catalog_path).all()
    with duckdb.connect(str(home.root / "data" / "dwh.duckdb")) as con:
        con.execute("CREATE TABLE sales_orders (id INTEGER); CREATE SCHEMA sales; CREATE TABLE sales.orders (id INTEGER)")

    [error] = discover(home, config(LAKE, DWH)).errors

    assert (error.source, error.dataset) == ("dwh", None)
    assert "main.sales_orders and sales.orders" in error.message and "\n" not in error.message
    assert CatalogStore(home.catalog_path).all() == before


def test_lake_file_without_a_usable_name_is_an_error_of_its_own(home):
    bad = home.root / "data" / "lake" / "-.csv"
    bad.write_text("x\n1\n")

    [error] = discover(home, config(LAKE)).errors

    assert (error.source, error.dataset) == ("lake", "-.csv")
    assert str(bad) in error.message and "\n" not in error.message
    assert keys(home) == ["lake/sales", "lake/shops"]


def test_a_url_connector_registers_with_one_entry_and_resumes_from_its_records(home, monkeypatch):
    """How the NATS and Redis connectors plug in: (type, scheme) -> Connector(scan, locate_url, resumes=True)."""
    calls = []

    def scan_messages(source, url, previous):
        calls.append((url, {name: r.stream_position.last for name, r in previous.items()}))
        last = str(len(calls) * 10)
        return [
            DatasetRecord(
                source=source.name, source_type=source.type, dataset_name="clicks", format="json",
                location=url, columns=[ColumnInfo(name="id", type="BIGINT")], record_count=len(calls) * 10,
                last_updated=datetime(2026, 11, 24, tzinfo=UTC), stream_position=StreamPosition(last=last, items=10),
            )
        ]

    monkeypatch.setitem(CONNECTORS, (SourceType.streaming, "nats"), Connector(scan_messages, locate_url, resumes=True))
    nats = SourceConfig(name="bus", type=SourceType.streaming, uri="nats://127.0.0.1:4222/CLICKS")

    discover(home, config(LAKE, nats))
    discover(home, config(LAKE, nats))

    assert calls == [("nats://127.0.0.1:4222/CLICKS", {}), ("nats://127.0.0.1:4222/CLICKS", {"clicks": "10"})]
    assert CatalogStore(home.catalog_path).get("bus/clicks").record_count == 20

    hostless = SourceConfig(name="bus", type=SourceType.streaming, uri="nats:///CLICKS")
    [error] = discover(home, config(hostless)).errors
    assert error.message == "datacrew.yaml: sources.bus.uri: 'nats:///CLICKS': source 'bus': expected a URL with a host"
    assert len(calls) == 2
