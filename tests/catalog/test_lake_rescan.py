"""Incremental rescans of a local lake, and history rows only for changed records."""

from __future__ import annotations

import os

from datacrew_resources.catalog.lake import read_lake
from datacrew_resources.catalog.store import CatalogStore


def by_name(records):
    return {r.dataset_name: r for r in records}


def write_lake(lake, write_parquet):
    for day in (1, 2, 3):
        write_parquet(lake / "events" / f"day={day}" / "part-0.parquet", rows=4, mtime=1_700_000_000 + day)
    write_parquet(lake / "planes.parquet", rows=5, mtime=1_700_000_000)
    (lake / "airports.csv").write_text("code,name\nJFK,Kennedy\nLGA,LaGuardia\n")


def test_rescan_with_nothing_changed_reads_no_file(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_lake(lake, write_parquet)

    cold = read_lake(lake_source, lake, {})
    rescan = read_lake(lake_source, lake, by_name(cold.records))

    assert cold.read == ["airports", "events", "planes"]
    assert rescan.read == []
    assert rescan.records == cold.records
    assert [f.path for f in by_name(cold.records)["events"].fingerprints] == [
        "events/day=1/part-0.parquet", "events/day=2/part-0.parquet", "events/day=3/part-0.parquet"
    ]


def test_only_datasets_with_a_changed_or_new_file_are_read_again(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_lake(lake, write_parquet)
    cold = read_lake(lake_source, lake, {})

    write_parquet(lake / "events" / "day=4" / "part-0.parquet", rows=6)
    touched = lake / "planes.parquet"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1))
    write_parquet(lake / "routes.parquet", rows=2)
    rescan = read_lake(lake_source, lake, by_name(cold.records))

    assert rescan.read == ["events", "planes", "routes"]
    found = by_name(rescan.records)
    assert found["airports"] == by_name(cold.records)["airports"]
    assert (found["events"].record_count, found["events"].file_count) == (18, 4)
    assert found["planes"].record_count == 5
    assert found["routes"].record_count == 2


def test_deleted_files_drop_counts_and_a_dataset_without_files_disappears(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_lake(lake, write_parquet)
    cold = read_lake(lake_source, lake, {})

    (lake / "events" / "day=2" / "part-0.parquet").unlink()
    (lake / "planes.parquet").unlink()
    rescan = read_lake(lake_source, lake, by_name(cold.records))

    assert rescan.read == ["events"]
    found = by_name(rescan.records)
    assert sorted(found) == ["airports", "events"]
    assert (found["events"].record_count, found["events"].file_count) == (8, 2)


def test_a_source_with_a_new_owner_is_read_again(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_lake(lake, write_parquet)
    cold = read_lake(lake_source, lake, {})

    moved = lake_source.model_copy(update={"owner": "team:other"})
    rescan = read_lake(moved, lake, by_name(cold.records))

    assert rescan.read == ["airports", "events", "planes"]
    assert {r.owner for r in rescan.records} == {"team:other"}


def test_history_gets_a_row_only_for_changed_records(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_lake(lake, write_parquet)
    store = CatalogStore(tmp_path / "catalog.sqlite")
    first = read_lake(lake_source, lake, {}).records
    store.replace_sources({"lake": first})

    store.replace_sources({"lake": read_lake(lake_source, lake, by_name(first)).records})
    write_parquet(lake / "planes.parquet", rows=7)
    (lake / "airports.csv").unlink()
    store.replace_sources({"lake": read_lake(lake_source, lake, by_name(store.all())).records})

    assert [h.record_count for h in store.history("lake/events")] == [12]
    assert [h.record_count for h in store.history("lake/planes")] == [5, 7]
    assert [r.dataset_name for r in store.all()] == ["events", "planes"]
