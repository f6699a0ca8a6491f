from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import pytest

from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord
from datacrew_resources.catalog.store import CatalogStore, schema_hash
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


def test_reading_a_missing_store_creates_nothing(store):
    assert store.all() == []
    assert store.get("lake/flights") is None
    assert not store.path.exists()


def test_store_uses_wal(store):
    store.replace_sources({"lake": [record("lake", "flights")]})
    with closing(sqlite3.connect(store.path)) as con:
        assert con.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
