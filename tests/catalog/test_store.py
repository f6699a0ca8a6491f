from __future__ import annotations

import gc
import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import pytest

from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord
from datacrew_resources.catalog.store import CatalogStore, collector_paused, schema_change, schema_hash
from datacrew_resources.config import SourceType


def record(source: str, name: str, rows: int = 1, column_type: str = "BIGINT") -> DatasetRecord:
    return DatasetRecord(
        source=source,
        source_type=SourceType.data_lake,
        dataset_name=name,
        format="parquet",
        location=f"/lake/{name}/**/*.parquet",
        partition_keys=["year"],
        columns=[ColumnInfo(name="id", type=column_type, nullable=False), ColumnInfo(name="year", type="BIGINT")],
        record_count=rows,
        last_updated=datetime(2024, 5, 1, 12, tzinfo=UTC),
        quality_score=0.5,
    )


@pytest.fixture
def store(tmp_path):
    return CatalogStore(tmp_path / "state" / "catalog.sqlite")


def test_records_round_trip(store):
    records = [record("lake", "flights", 10), record("lake", "planes", 3)]
    store.replace_sources({"lake": records})

    assert store.all() == records
    assert store.get("lake/planes") == records[1]
    assert store.get("lake/missing") is None


def test_replace_removes_vanished_datasets_and_keeps_other_sources(store):
    store.replace_sources({"lake": [record("lake", "flights"), record("lake", "planes")]})
    store.replace_sources({"other": [record("other", "x")]})

    store.replace_sources({"lake": [record("lake", "flights", 20)]})

    assert [r.key_string for r in store.all()] == ["lake/flights", "other/x"]
    assert store.get("lake/flights").record_count == 20


def test_failed_replace_leaves_previous_records(store):
    store.replace_sources({"lake": [record("lake", "flights")]})

    with pytest.raises(sqlite3.IntegrityError):  # the same key twice fails mid-transaction
        store.replace_sources({"lake": [record("lake", "planes"), record("lake", "planes")]})

    assert [r.key_string for r in store.all()] == ["lake/flights"]


def test_failure_in_one_source_leaves_every_source_as_it_was(store):
    store.replace_sources({"lake": [record("lake", "flights")], "other": [record("other", "x")]})

    with pytest.raises(sqlite3.IntegrityError):
        store.replace_sources(
            {"lake": [record("lake", "planes")], "other": [record("other", "y"), record("other", "y")]}
        )

    assert [r.key_string for r in store.all()] == ["lake/flights", "other/x"]


def test_records_of_another_source_are_refused(store):
    with pytest.raises(ValueError, match="other"):
        store.replace_sources({"lake": [record("other", "x")]})


def test_scan_history_tracks_counts_and_schema(store):
    store.replace_sources({"lake": [record("lake", "flights", 10)]})
    store.replace_sources({"lake": [record("lake", "flights", 12, column_type="INTEGER")]})

    history = store.history("lake/flights")

    assert [h.record_count for h in history] == [10, 12]
    assert history[0].schema_hash == schema_hash(record("lake", "flights"))
    assert history[0].schema_hash != history[1].schema_hash
    assert history[0].scanned_at.tzinfo is not None


def test_history_keeps_every_schema_and_what_changed(store):
    first = record("lake", "flights", 10)
    retyped = record("lake", "flights", 12, column_type="INTEGER")
    grown = retyped.model_copy(update={
        "columns": [ColumnInfo(name="id", type="INTEGER"), ColumnInfo(name="carrier", type="VARCHAR")],
        "record_count": 13,
    })
    for version in (first, first.model_copy(update={"record_count": 11}), retyped, grown):
        store.replace_sources({"lake": [version]})

    history = store.history("lake/flights")

    assert [h.record_count for h in history] == [10, 11, 12, 13]
    assert [h.columns for h in history] == [
        [("id", "BIGINT", False), ("year", "BIGINT", True)],
        [("id", "BIGINT", False), ("year", "BIGINT", True)],
        [("id", "INTEGER", False), ("year", "BIGINT", True)],
        [("id", "INTEGER", True), ("carrier", "VARCHAR", True)],
    ]
    # New, then the same schema: no change; then each drift, never overwritten by the next.
    assert [h.schema_change for h in history] == [
        None,
        None,
        {"added": [], "removed": [], "retyped": [{"column": "id", "from": "BIGINT", "to": "INTEGER"}],
         "nullability": []},
        {"added": ["carrier"], "removed": ["year"], "retyped": [],
         "nullability": [{"column": "id", "from": False, "to": True}]},
    ]


def test_schema_change_of_name_type_pairs_has_no_nullability():
    assert schema_change([["a", "BIGINT"], ["b", "VARCHAR"]], [["b", "DATE"], ["c", "BIGINT"]]) == {
        "added": ["c"], "removed": ["a"], "retyped": [{"column": "b", "from": "VARCHAR", "to": "DATE"}],
    }


def test_a_catalog_written_before_schemas_were_kept_is_migrated(store):
    """The history table as it was: rows without the schema columns, which the store adds."""
    current = record("lake", "flights", 10)
    store.path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(store.path)) as con, con:
        con.executescript(
            "CREATE TABLE datasets (asset_key TEXT PRIMARY KEY, source TEXT NOT NULL, record TEXT NOT NULL);"
            "CREATE TABLE scans (id INTEGER PRIMARY KEY AUTOINCREMENT, asset_key TEXT NOT NULL,"
            " scanned_at TEXT NOT NULL, record_count INTEGER NOT NULL, schema_hash TEXT NOT NULL);"
        )
        con.execute("INSERT INTO datasets VALUES (?, ?, ?)", ("lake/flights", "lake", current.model_dump_json()))
        con.executemany(
            "INSERT INTO scans (asset_key, scanned_at, record_count, schema_hash) VALUES (?, ?, ?, ?)",
            [("lake/flights", "2024-05-01T00:00:00+00:00", 8, "0123456789abcdef"),
             ("lake/flights", "2024-05-02T00:00:00+00:00", 10, schema_hash(current))],
        )

    old, latest = store.history("lake/flights")
    store.replace_sources({"lake": [record("lake", "flights", 12, column_type="VARCHAR")]})

    assert (old.columns, old.schema_change) == (None, None)
    assert latest.columns == [("id", "BIGINT", False), ("year", "BIGINT", True)]  # the current record's
    newest = store.history("lake/flights")[-1]
    assert newest.schema_change["retyped"] == [{"column": "id", "from": "BIGINT", "to": "VARCHAR"}]
    assert store.get("lake/flights").record_count == 12


def test_reading_a_missing_store_creates_nothing(store):
    assert store.all() == []
    assert store.get("lake/flights") is None
    assert store.history("lake/flights") == []
    assert not store.path.exists()


def test_store_uses_wal(store):
    store.replace_sources({"lake": [record("lake", "flights")]})
    with closing(sqlite3.connect(store.path)) as con:
        assert con.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"


def test_records_read_back_unchanged_are_kept_as_stored(store):
    store.replace_sources({"lake": [record("lake", "flights", 10), record("lake", "planes", 3)]})
    kept, grown = store.all()
    store.replace_sources({"lake": [kept, grown.model_copy(update={"record_count": 4})]})

    assert [e.record_count for e in store.history("lake/flights")] == [10]  # the very record: no new row
    assert [e.record_count for e in store.history("lake/planes")] == [3, 4]
    assert store.get("lake/flights") == kept and store.get("lake/planes").record_count == 4


def test_collector_paused_restores_the_state_it_found():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause found it off and leaves it off
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
