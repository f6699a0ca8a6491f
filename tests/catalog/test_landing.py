from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.landing import scan_landing_zone
from datacrew_resources.catalog.store import CatalogStore, ScanError
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType

T0 = 1_790_000_000  # a batch file's mtime, seconds


def zone_source(**options) -> SourceConfig:
    return SourceConfig(name="zone", type=SourceType.streaming, uri="zone", owner="team:events", options=options)


def batch(stream: Path, relative: str, events: list[dict], *, mtime: float) -> Path:
    """One JSON-lines micro-batch, as a producer lands it."""
    path = stream / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    os.utime(path, (mtime, mtime))
    return path


def events(first_id: int, count: int, *, minute: int, **extra) -> list[dict]:
    return [
        {"id": first_id + i, "ts": f"2026-11-24T10:{minute:02d}:{i:02d}Z", "amount": None if i == 0 else i, **extra}
        for i in range(count)
    ]


def streams(source, root, previous):
    """The zone's records, once it is clear that every stream was read."""
    records, errors = scan_landing_zone(source, root, previous)
    assert errors == []
    return records


def failed(source, root, previous, *, found: list[str]) -> ScanError:
    """The one stream of the zone that could not be read; `found` are the streams that were."""
    records, errors = scan_landing_zone(source, root, previous)
    assert [r.dataset_name for r in records] == found
    (error,) = errors
    assert "\n" not in error.message
    return error


def shape(record) -> list[tuple[str, str, bool]]:
    return [(c.name, c.type, c.nullable) for c in record.columns]


@pytest.fixture
def zone(tmp_path) -> Path:
    root = tmp_path / "zone"
    stream = root / "Events"
    # The oldest batch has a field later batches dropped: outside the sample, not in the schema.
    batch(stream, "2026/11/24/batch-000001.jsonl", events(1, 2, minute=1, legacy="x"), mtime=T0)
    batch(stream, "2026/11/24/batch-000002.jsonl", events(3, 3, minute=2), mtime=T0 + 60)
    batch(stream, "2026/11/24/batch-000003.jsonl", events(6, 4, minute=3), mtime=T0 + 120)
    (stream / "2026" / "11" / "24" / "_batch-000004.jsonl.tmp").write_text('{"id": ')  # in flight
    (root / "README.md").write_text("landing zone")  # loose files are not streams
    (root / ".staging").mkdir()
    return root


def test_each_stream_directory_is_one_dataset_with_count_schema_freshness_and_position(zone):
    (record,) = streams(zone_source(event_time="ts", sample_batches=2), zone, {})

    stream = zone.resolve() / "Events"
    assert (record.source, record.dataset_name) == ("zone", "events")
    assert record.source_type is SourceType.streaming
    assert (record.format, record.compression, record.partition_keys) == ("json", None, [])
    assert record.location == f"{stream}/**/*.jsonl"
    assert record.record_count == 9
    assert record.file_count == 3
    assert record.size_bytes == sum(p.stat().st_size for p in stream.rglob("batch-*.jsonl"))
    assert shape(record) == [
        ("id", "BIGINT", False),
        ("ts", "TIMESTAMP WITH TIME ZONE", False),
        ("amount", "BIGINT", True),
    ]
    assert record.quality_score == pytest.approx(1 - 2 / 21, abs=1e-4)  # two null amounts in 7 sampled rows
    assert record.last_updated == datetime(2026, 11, 24, 10, 3, 3, tzinfo=UTC)
    position = record.stream_position
    assert (position.last, position.items) == ("2026/11/24/batch-000003.jsonl", 3)
    size = (stream / position.last).stat().st_size
    assert position.fingerprint == f"{size}:{(T0 + 120) * 10**9}"
    assert (position.event_time_column, position.last_event_time) == ("ts", record.last_updated)
    assert record.owner == "team:events"


def test_without_event_time_freshness_is_the_newest_batch_mtime(zone):
    newest = zone / "Events" / "2026" / "11" / "24" / "batch-000001.jsonl"
    os.utime(newest, (T0 + 500, T0 + 500))  # rewritten last, though first by name

    (record,) = streams(zone_source(), zone, {})

    assert record.last_updated == datetime.fromtimestamp(T0 + 500, tz=UTC)
    assert record.stream_position.last_event_time is None
    assert record.stream_position.event_time_column is None


def test_parquet_batches_with_hive_directories(tmp_path):
    stream = tmp_path / "zone" / "clicks"
    for day, rows in [(1, 3), (2, 5)]:
        path = stream / f"day={day}" / "part-0.parquet"
        path.parent.mkdir(parents=True)
        at = [datetime(2026, 11, day, 12, i, tzinfo=UTC) for i in range(rows)]
        pq.write_table(pa.table({"user": pa.array(range(rows), pa.int32()), "at": pa.array(at, pa.timestamp("ms", tz="UTC"))}), path)

    (record,) = streams(zone_source(event_time="at"), tmp_path / "zone", {})

    assert (record.dataset_name, record.format, record.partition_keys) == ("clicks", "parquet", ["day"])
    assert record.record_count == 8
    assert shape(record) == [("user", "INTEGER", False), ("at", "TIMESTAMP WITH TIME ZONE", False), ("day", "BIGINT", False)]
    assert record.last_updated == datetime(2026, 11, 2, 12, 4, tzinfo=UTC)
    assert record.stream_position.last == "day=2/part-0.parquet"


def test_rescan_reads_only_new_batches(zone):
    source = zone_source(event_time="ts", sample_batches=2)
    (first,) = streams(source, zone, {})
    stream = zone / "Events" / "2026" / "11" / "24"
    # Garble the oldest batch, outside the sample, keeping its size and mtime: reading it would fail.
    oldest = stream / "batch-000001.jsonl"
    oldest.write_bytes(b"#" * oldest.stat().st_size)
    os.utime(oldest, (T0, T0))
    batch(zone / "Events", "2026/11/25/batch-000004.jsonl", events(10, 5, minute=9), mtime=T0 + 180)

    (second,) = streams(source, zone, {"events": first})

    assert second.record_count == 9 + 5
    assert second.file_count == 4
    assert second.last_updated == datetime(2026, 11, 24, 10, 9, 4, tzinfo=UTC)
    assert (second.stream_position.last, second.stream_position.items) == ("2026/11/25/batch-000004.jsonl", 4)
    assert shape(second) == shape(first)
    assert second.quality_score == pytest.approx(1 - 2 / 27, abs=1e-4)  # sample: batches 3 and 4


def test_rescan_without_new_batches_reads_nothing(zone):
    source = zone_source(event_time="ts")
    (first,) = streams(source, zone, {})
    for path in (zone / "Events").rglob("batch-*.jsonl"):
        stat = path.stat()
        path.write_bytes(b"#" * stat.st_size)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    (second,) = streams(source, zone, {"events": first})

    assert second == first


@pytest.mark.parametrize("change", ["delete_oldest", "append_to_last", "late_batch"])
def test_rescan_starts_over_when_the_position_no_longer_holds(zone, change):
    source = zone_source(event_time="ts")
    (first,) = streams(source, zone, {})
    stream = zone / "Events" / "2026" / "11" / "24"
    expected = 9
    if change == "delete_oldest":
        (stream / "batch-000001.jsonl").unlink()
        expected = 7
    elif change == "append_to_last":
        with (stream / "batch-000003.jsonl").open("a") as handle:
            handle.write(json.dumps({"id": 99, "ts": "2026-11-24T10:05:00Z", "amount": 1}) + "\n")
        expected = 10
    elif change == "late_batch":  # lands before the position in path order
        batch(zone / "Events", "2026/11/24/batch-000002a.jsonl", events(20, 6, minute=4), mtime=T0 + 300)
        expected = 15

    (second,) = streams(source, zone, {"events": first})

    assert second.record_count == expected
    assert second.stream_position.items == second.file_count


def test_changing_the_event_time_option_reads_the_stream_again(zone):
    (first,) = streams(zone_source(event_time="ts"), zone, {})
    oldest = zone / "Events" / "2026" / "11" / "24" / "batch-000001.jsonl"
    oldest.write_bytes(b"#" * oldest.stat().st_size)
    os.utime(oldest, (T0, T0))

    assert streams(zone_source(event_time="ts"), zone, {"events": first}) == [first]
    error = failed(zone_source(), zone, {"events": first}, found=[])
    assert error.dataset == "events" and str(oldest.resolve()) in error.message


def test_discover_keeps_the_position_in_the_catalog_and_resumes_from_it(tmp_path, zone):
    home = Home(tmp_path)
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "ok.csv").write_text("x\n1\n")
    config = PlatformConfig(
        sources=[zone_source(event_time="ts"), SourceConfig(name="lake", type=SourceType.data_lake, uri="lake")]
    )
    discover(home, config)
    store = CatalogStore(home.catalog_path)
    assert store.get("zone/events").stream_position.items == 3

    new = batch(zone / "Events", "2026/11/25/batch-000004.jsonl", events(10, 2, minute=9), mtime=T0 + 180)
    (lake / "broken.json").write_text('{"a": ')
    [error] = discover(home, config).errors
    assert (error.source, error.dataset) == ("lake", "broken")
    assert store.get("zone/events").stream_position.items == 4  # a bad lake no longer holds the zone back

    (lake / "broken.json").unlink()
    report = discover(home, config)

    record = store.get("zone/events")
    assert (record.record_count, record.stream_position.last) == (11, "2026/11/25/batch-000004.jsonl")
    assert [(s.name, s.datasets, s.records) for s in report.sources] == [("zone", 1, 11), ("lake", 1, 1)]
    assert new.exists()


@pytest.mark.parametrize(
    ("options", "field", "problem"),
    [
        ({"event_tme": "ts"}, "sources.zone.options.event_tme: 'ts'", "Extra inputs are not permitted"),
        ({"sample_batches": 0}, "sources.zone.options.sample_batches: 0", "Input should be greater than or equal to 1"),
    ],
)
def test_bad_options_fail_the_source_naming_the_option(zone, options, field, problem):
    with pytest.raises(ConfigError) as info:
        scan_landing_zone(zone_source(**options), zone, {})

    assert str(info.value) == f"datacrew.yaml: {field}: {problem}"


@pytest.mark.parametrize(
    ("column", "problem"),
    [
        ("when", "stream 'events' has no such column (columns: id, ts, amount, legacy)"),
        ("id", "stream 'events': column is BIGINT, not a timestamp or date"),
    ],
)
def test_an_event_time_column_a_stream_lacks_fails_that_stream(zone, column, problem):
    at = "2026-11-24T10:00:00Z"
    batch(zone / "Clicks", "batch-000001.jsonl", [{"id": at, "when": at}], mtime=T0)  # both are times here

    error = failed(zone_source(event_time=column), zone, {}, found=["clicks"])

    assert (error.dataset, error.message) == (
        "events", f"datacrew.yaml: sources.zone.options.event_time: {column!r}: {problem}"
    )


def test_bad_batches_fail_their_stream_with_one_line_naming_the_file(zone):
    stream = zone / "Events" / "2026" / "11" / "24"
    batch(zone / "Clicks", "batch-000001.jsonl", [{"id": 1}], mtime=T0)
    empty = stream / "batch-000004.jsonl"
    empty.touch()

    error = failed(zone_source(), zone, {}, found=["clicks"])
    assert (error.dataset, error.message) == ("events", f"{empty.resolve()}: source 'zone': file is empty")

    empty.write_text('{"id": 1, "ts": ')
    error = failed(zone_source(), zone, {}, found=["clicks"])
    assert f'Malformed JSON in file "{empty.resolve()}"' in error.message



def test_a_truncated_gzip_batch_fails_its_stream(zone):
    whole = gzip.compress("".join(json.dumps(e) + "\n" for e in events(1, 5_000, minute=5)).encode())
    truncated = zone / "Archive" / "batch-000001.jsonl.gz"
    truncated.parent.mkdir()
    truncated.write_bytes(whole[: len(whole) // 2])

    error = failed(zone_source(), zone, {}, found=["events"])

    assert error.dataset == "archive"
    assert error.message.startswith(f"{truncated.parent.resolve()}/**/*.jsonl.gz: source 'zone': cannot read json (")
    assert error.message.endswith(f"end of GZIP stream: {truncated.resolve()})")


def test_mixed_batch_formats_in_one_stream_fail_that_stream(zone):
    (zone / "Events" / "2026" / "11" / "24" / "batch-000004.csv").write_text("id\n1\n")

    error = failed(zone_source(), zone, {}, found=[])

    assert error.dataset == "events" and "directory mixes file types ['.csv', '.jsonl']" in error.message


def test_missing_landing_zone(tmp_path):
    with pytest.raises(DiscoveryError, match="landing zone is not a directory"):
        scan_landing_zone(zone_source(), tmp_path / "nowhere", {})


def test_event_times_without_zone_are_utc(tmp_path):
    stream = tmp_path / "zone" / "orders"
    stream.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT 1 AS id, TIMESTAMP '2026-11-24 23:30:00' AS placed_at) TO ? (FORMAT parquet)",
            [str(stream / "batch-1.parquet")],
        )

    (record,) = streams(zone_source(event_time="placed_at"), tmp_path / "zone", {})

    assert record.last_updated == datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
