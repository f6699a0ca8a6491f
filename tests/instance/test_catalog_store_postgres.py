"""The catalog store on PostgreSQL by URL, through the same code as on SQLite: both give the
same records, history (with schema changes) and scan errors for the same writes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest

from datacrew_assets.cli.validation import validate_home
from datacrew_assets.definitions import build_definitions
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.search import search
from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord
from datacrew_resources.catalog.store import CATALOG_URL_ENV, CatalogStore, ScanError, catalog_location
from datacrew_resources.config import Home, PlatformConfig, SourceType
from datacrew_resources.config.instance import InstanceConfig

from .conftest import set_section


def record(source: str, name: str, rows: int = 1, id_type: str = "BIGINT") -> DatasetRecord:
    return DatasetRecord(
        source=source, source_type=SourceType.data_lake, dataset_name=name, format="parquet",
        location=f"/lake/{name}/*.parquet", partition_keys=[],
        columns=[ColumnInfo(name="id", type=id_type, nullable=False), ColumnInfo(name="Year", type="BIGINT")],
        record_count=rows, last_updated=datetime(2024, 5, 1, 12, tzinfo=UTC), quality_score=0.5,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> CatalogStore:
    if request.param == "sqlite":
        return CatalogStore(tmp_path / "state" / "catalog.sqlite")
    return CatalogStore(request.getfixturevalue("postgres_url"))


def test_a_store_round_trips_records_history_and_errors(store):
    assert store.all() == [] and store.history("lake/flights") == [] and store.errors() == []
    first = [record("lake", "flights", 10), record("lake", "Planes", 3), record("lake", "airports", 1)]
    store.replace_sources({"lake": first, "share": [record("share", "reports", 2)]})
    # 4e9 rows: more than a 32-bit count holds.
    store.replace_sources({"lake": [record("lake", "flights", 4_000_000_000, id_type="VARCHAR"), first[1]]})
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        store.replace_sources({"lake": [record("lake", "x"), record("lake", "x")]})  # nothing of it is kept
    store.record_errors(["lake", "share"], [ScanError("share", "reports", "unreadable"),
                                            ScanError("share", None, "permission denied"),
                                            ScanError("lake", "b", "corrupt"), ScanError("lake", "a", "corrupt")])

    # Bytewise order, as SQLite compares: upper case before lower.
    assert [r.key_string for r in store.all()] == ["lake/Planes", "lake/flights", "share/reports"]
    assert store.get("lake/flights").record_count == 4_000_000_000
    assert store.get("lake/airports") is None
    history = store.history("lake/flights")
    assert [(h.record_count, h.schema_change) for h in history] == [
        (10, None),
        (4_000_000_000, {"added": [], "removed": [], "retyped": [{"column": "id", "from": "BIGINT", "to": "VARCHAR"}],
                         "nullability": []}),
    ]
    assert history[1].columns == [("id", "VARCHAR", False), ("Year", "BIGINT", True)]
    assert [(e.error.source, e.error.dataset, e.error.message) for e in store.errors()] == [
        ("lake", "a", "corrupt"), ("lake", "b", "corrupt"),
        ("share", None, "permission denied"), ("share", "reports", "unreadable"),
    ]


def test_postgres_rows_live_in_the_urls_schema(postgres_url):
    CatalogStore(postgres_url).replace_sources({"lake": [record("lake", "flights", 7)]})
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT asset_key, source FROM datasets").fetchall() == [("lake/flights", "lake")]
        assert con.execute("SELECT asset_key, record_count FROM scans").fetchall() == [("lake/flights", 7)]
    assert [r.record_count for r in CatalogStore(postgres_url).all()] == [7]  # another store, same rows


def test_the_catalog_location_is_the_env_then_datacrew_yaml_then_the_home(tmp_path, monkeypatch):
    home = Home(tmp_path)
    monkeypatch.delenv(CATALOG_URL_ENV, raising=False)
    assert catalog_location(home, PlatformConfig()) == home.catalog_path
    configured = PlatformConfig(instance=InstanceConfig(catalog_url="postgresql://catalog@db:5432/c"))
    assert catalog_location(home, configured) == "postgresql://catalog@db:5432/c"
    monkeypatch.setenv(CATALOG_URL_ENV, "postgresql://env@db:5432/c")
    assert catalog_location(home, configured) == "postgresql://env@db:5432/c"


def test_a_home_discovers_into_a_postgres_catalog_and_everything_reads_it(demo_home, postgres_url):
    set_section(demo_home, "instance", {"catalog_url": postgres_url})
    report = discover(demo_home, demo_home.load_config())
    assert not demo_home.catalog_path.exists()  # nothing went to the SQLite default
    stored = CatalogStore(postgres_url).all()
    assert sorted(r.key_string for r in stored) == sorted(r.key_string for r in report.records)
    assert "lake/flights" in {r.key_string for r in stored}

    # The definitions, the validation and the search read the same rows.
    defs = build_definitions(demo_home)
    assert defs.resolve_assets_def(dg.AssetKey(["lake", "flights"])) is not None
    assert validate_home(demo_home)
    assert "lake/flights" in {hit.record.key_string for hit in search(demo_home, "flights").hits}
