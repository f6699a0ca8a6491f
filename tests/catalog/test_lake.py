from __future__ import annotations

import gzip
import json
import os
import struct
from datetime import UTC, date, datetime, time
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datacrew_resources.catalog.datafiles import footer_types
from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.lake import scan_lake
from datacrew_resources.catalog.store import ScanError


def lake_records(source, root):
    """The lake's records, once it is clear that every dataset was read."""
    records, errors = scan_lake(source, root)
    assert errors == []
    return records


def failed(source, root, *, found: list[str]) -> ScanError:
    """The one dataset of the lake that could not be read; `found` are the datasets that were."""
    records, errors = scan_lake(source, root)
    assert [r.dataset_name for r in records] == found
    (error,) = errors
    assert "\n" not in error.message
    return error


def by_name(records):
    return {r.dataset_name: r for r in records}


def types(record):
    return {c.name: c.type for c in record.columns}


def test_hive_directory_is_one_dataset_with_typed_partition_keys(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    mtimes = []
    for i, (year, region) in enumerate([(2023, "eu"), (2023, "us"), (2024, "eu")]):
        mtimes.append(1_700_000_000 + i * 1000)
        write_parquet(lake / "sales" / f"year={year}" / f"region={region}" / "part-0.parquet", rows=4, mtime=mtimes[-1])

    (record,) = lake_records(lake_source, lake)

    assert record.dataset_name == "sales"
    assert record.format == "parquet"
    assert record.partition_keys == ["year", "region"]
    assert record.record_count == 12
    assert record.file_count == 3
    assert record.location == f"{lake.resolve()}/sales/**/*.parquet"
    assert record.last_updated == datetime.fromtimestamp(max(mtimes), tz=UTC)
    assert record.size_bytes == sum(p.stat().st_size for p in (lake / "sales").rglob("*.parquet"))
    assert types(record) == {
        "id": "INTEGER",
        "amount": "BIGINT",
        "label": "VARCHAR",
        "at": "TIMESTAMP WITH TIME ZONE",
        "year": "BIGINT",
        "region": "VARCHAR",
    }
    assert {c.name for c in record.columns if not c.nullable} >= {"year", "region"}
    assert record.source == "lake" and record.owner == "team:lake"


def test_plain_directory_of_parts_is_one_dataset_without_partition_keys(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_parquet(lake / "Events Log" / "part-0.parquet", rows=2)
    write_parquet(lake / "Events Log" / "part-1.parquet", rows=5)
    (lake / "Events Log" / "_SUCCESS").touch()

    (record,) = lake_records(lake_source, lake)

    assert record.dataset_name == "events_log"
    assert record.partition_keys == []
    assert record.record_count == 7
    assert record.file_count == 2


def test_parquet_nullability_and_quality_come_from_footer_statistics(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_parquet(lake / "orders.parquet", rows=10, null_every=5)  # amount is null in rows 0 and 5

    (record,) = lake_records(lake_source, lake)

    nullable = {c.name: c.nullable for c in record.columns}
    assert nullable == {"id": False, "amount": True, "label": False, "at": False}
    assert record.quality_score == pytest.approx(1 - 2 / 40)


def test_parquet_is_read_from_footers_only(tmp_path, lake_source, write_parquet):
    """Zero every byte between the header and the footer: data pages are garbage, footer intact."""
    path = write_parquet(tmp_path / "lake" / "big.parquet", rows=5_000)
    data = bytearray(path.read_bytes())
    footer_length = struct.unpack("<i", data[-8:-4])[0]
    footer_start = len(data) - 8 - footer_length
    data[4:footer_start] = bytes(footer_start - 4)
    path.write_bytes(bytes(data))
    with pytest.raises(Exception):
        pq.read_table(path)  # the data really is unreadable

    (record,) = lake_records(lake_source, tmp_path / "lake")

    assert record.record_count == 5_000
    assert types(record)["at"] == "TIMESTAMP WITH TIME ZONE"


def test_csv_schema_counts_and_nulls(tmp_path, lake_source):
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "Planes-2013.csv").write_text("tailnum,year,seats,speed\nN1,2004,55,\nN2,,182,\nN3,1999,20,120\n")

    (record,) = lake_records(lake_source, lake)

    assert record.dataset_name == "planes_2013"
    assert record.format == "csv"
    assert record.location == str((lake / "Planes-2013.csv").resolve())
    assert record.record_count == 3
    assert [(c.name, c.type, c.nullable) for c in record.columns] == [
        ("tailnum", "VARCHAR", False),
        ("year", "BIGINT", True),
        ("seats", "BIGINT", False),
        ("speed", "BIGINT", True),
    ]
    assert record.quality_score == pytest.approx(9 / 12)


@pytest.mark.parametrize("layout", ["newline_delimited", "array"])
def test_json_schema_and_counts(tmp_path, lake_source, layout):
    lake = tmp_path / "lake"
    lake.mkdir()
    rows = [{"faa": "JFK", "name": "Kennedy", "lat": 40.6}, {"faa": "LGA", "name": None, "lat": 40.7}]
    text = "\n".join(json.dumps(r) for r in rows) if layout == "newline_delimited" else json.dumps(rows)
    (lake / "airports.json").write_text(text)

    (record,) = lake_records(lake_source, lake)

    assert record.format == "json"
    assert record.record_count == 2
    assert [(c.name, c.type, c.nullable) for c in record.columns] == [
        ("faa", "VARCHAR", False),
        ("name", "VARCHAR", True),
        ("lat", "DOUBLE", False),
    ]


def test_hidden_and_unknown_entries_are_skipped(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_parquet(lake / "keep.parquet")
    write_parquet(lake / ".hidden.parquet")
    write_parquet(lake / "_staging" / "part-0.parquet")
    (lake / "notes.txt").write_text("not data")
    (lake / "empty_dir").mkdir()

    assert [r.dataset_name for r in lake_records(lake_source, lake)] == ["keep"]


def test_corrupt_parquet_fails_its_dataset_naming_the_file(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_parquet(lake / "flights" / "month=1" / "part-0.parquet")
    write_parquet(lake / "planes.parquet")
    bad = lake / "flights" / "month=2" / "part-0.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PAR1 this is not parquet")

    error = failed(lake_source, lake, found=["planes"])

    assert (error.source, error.dataset) == ("lake", "flights")
    assert error.message.startswith(f"{bad.resolve()}: source 'lake': cannot read parquet footer (")


def test_corrupt_json_fails_its_dataset_naming_the_file(tmp_path, lake_source):
    lake = tmp_path / "lake"
    lake.mkdir()
    bad = lake / "broken.json"
    bad.write_text('{"a": 1}\n{"a": ')
    (lake / "ok.csv").write_text("x\n1\n")

    error = failed(lake_source, lake, found=["ok"])

    assert error.dataset == "broken" and str(bad.resolve()) in error.message


def test_truncated_gzip_fails_its_dataset_naming_the_file(tmp_path, lake_source):
    lake = tmp_path / "lake"
    lake.mkdir()
    whole = gzip.compress(b"id,name\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(5_000)))
    bad = lake / "events.csv.gz"
    bad.write_bytes(whole[: len(whole) // 2])
    (lake / "ok.csv").write_text("x\n1\n")

    error = failed(lake_source, lake, found=["ok"])

    assert error.dataset == "events"
    assert error.message.startswith(f"{bad.resolve()}: source 'lake': cannot read csv (")


def test_two_entries_with_one_name_are_refused(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_parquet(lake / "flights.parquet")
    write_parquet(lake / "flights" / "part-0.parquet")

    with pytest.raises(DiscoveryError, match="'flights' is used twice") as info:
        scan_lake(lake_source, lake)

    message = str(info.value)
    assert "(flights/ and flights.parquet)" in message and str(lake.resolve()) in message
    assert "\n" not in message


@pytest.mark.parametrize("entry", ["-.csv", "--- ---"])
def test_entry_without_a_usable_name_fails_as_itself(tmp_path, lake_source, write_parquet, entry):
    lake = tmp_path / "lake"
    write_parquet(lake / "keep.parquet")
    if entry.endswith(".csv"):
        (lake / entry).write_text("x\n1\n")
    else:
        write_parquet(lake / entry / "part-0.parquet")

    error = failed(lake_source, lake, found=["keep"])

    assert error.dataset == entry
    assert error.message == (
        f"{(lake / entry).resolve()}: source 'lake': cannot derive a dataset name from"
        f" {entry.removesuffix('.csv')!r} (no letters or digits)"
    )


def test_mixed_file_types_in_one_directory_fail_that_dataset(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_parquet(lake / "mixed" / "a.parquet")
    (lake / "mixed" / "b.csv").write_text("x\n1\n")
    write_parquet(lake / "keep.parquet")

    error = failed(lake_source, lake, found=["keep"])

    assert error.dataset == "mixed" and "mixes file types ['.csv', '.parquet']" in error.message


def test_missing_lake_directory(tmp_path, lake_source):
    with pytest.raises(DiscoveryError, match="not a directory"):
        scan_lake(lake_source, tmp_path / "nowhere")


def test_lake_files_are_not_modified(tmp_path, lake_source, write_parquet):
    path = write_parquet(tmp_path / "lake" / "t.parquet", mtime=1_600_000_000)
    before = path.read_bytes(), os.stat(path).st_mtime

    lake_records(lake_source, tmp_path / "lake")

    assert (path.read_bytes(), os.stat(path).st_mtime) == before


def test_gzipped_text_files_record_their_compression(tmp_path, lake_source):
    lake = tmp_path / "lake"
    (lake / "events").mkdir(parents=True)
    (lake / "Airports.CSV.gz").write_bytes(gzip.compress(b"faa,lat\nJFK,40.6\nLGA,40.7\n"))
    for day in (1, 2):
        (lake / "events" / f"day-{day}.jsonl.gz").write_bytes(gzip.compress(b'{"id": 1}\n{"id": 2}\n'))
    (lake / "events" / "_SUCCESS").touch()
    (lake / "backup.gz").write_bytes(gzip.compress(b"x"))  # no data suffix inside: skipped

    airports, events = lake_records(lake_source, lake)

    assert (airports.dataset_name, airports.format, airports.compression) == ("airports", "csv", "gzip")
    assert airports.record_count == 2 and types(airports) == {"faa": "VARCHAR", "lat": "DOUBLE"}
    assert (events.dataset_name, events.format, events.compression) == ("events", "json", "gzip")
    assert events.location == f"{lake.resolve()}/events/**/*.jsonl.gz"
    assert (events.record_count, events.file_count) == (4, 2)


def test_ragged_csv_fails_its_dataset_naming_the_line(tmp_path, lake_source):
    """DuckDB's sniffer used to read this as one VARCHAR column named 'a,b' with 3 rows."""
    lake = tmp_path / "lake"
    lake.mkdir()
    bad = lake / "ragged.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n6,7\n")

    error = failed(lake_source, lake, found=[])

    assert (error.dataset, error.message) == (
        "ragged",
        f"{bad.resolve()}: source 'lake': ragged CSV: line 3 has 3 fields, the header has 2 (delimiter ',')",
    )


def test_csv_with_a_title_above_the_header_is_read_below_it(tmp_path, lake_source):
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "report.csv").write_text("Monthly report\n\ncarrier,flights\nUA,3\nAA,4\n")

    (record,) = lake_records(lake_source, lake)

    assert record.record_count == 2 and types(record) == {"carrier": "VARCHAR", "flights": "BIGINT"}


def test_empty_file_fails_its_dataset_naming_it(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_parquet(lake / "keep.parquet")
    empty = lake / "empty.json"
    empty.touch()

    error = failed(lake_source, lake, found=["keep"])

    assert (error.dataset, error.message) == ("empty", f"{empty.resolve()}: source 'lake': file is empty")


# Arrow types as pyarrow writes them to parquet, with a value each.
TYPE_MATRIX = {
    "bool": (pa.bool_(), True),
    "i8": (pa.int8(), -1), "i16": (pa.int16(), -2), "i32": (pa.int32(), -3), "i64": (pa.int64(), -4),
    "u8": (pa.uint8(), 1), "u16": (pa.uint16(), 2), "u32": (pa.uint32(), 3), "u64": (pa.uint64(), 4),
    "f16": (pa.float16(), None), "f32": (pa.float32(), 1.5), "f64": (pa.float64(), 2.5),
    "str": (pa.string(), "a"), "large_str": (pa.large_string(), "b"),
    "dict_str": (pa.dictionary(pa.int32(), pa.string()), "c"),
    "bin": (pa.binary(), b"x"), "fixed_bin": (pa.binary(4), b"abcd"),
    "date": (pa.date32(), date(2024, 1, 2)), "date64": (pa.date64(), date(2024, 1, 2)),
    "time_ms": (pa.time32("ms"), time(1, 2)), "time_us": (pa.time64("us"), time(1, 2)),
    "time_ns": (pa.time64("ns"), time(1, 2)),
    **{f"ts_{unit}": (pa.timestamp(unit), datetime(2024, 1, 2, 3)) for unit in ("s", "ms", "us", "ns")},
    **{f"tz_{unit}": (pa.timestamp(unit, tz="Europe/Paris"), datetime(2024, 1, 2, 3, tzinfo=UTC))
       for unit in ("s", "ms", "us", "ns")},
    "dec_5_1": (pa.decimal128(5, 1), Decimal("1.5")), "dec_18_4": (pa.decimal128(18, 4), Decimal("1.5")),
    "dec_38_10": (pa.decimal128(38, 10), Decimal("1.5")), "dec256_50_2": (pa.decimal256(50, 2), Decimal("1.5")),
    "list_i64": (pa.list_(pa.int64()), [1, 2]), "list_str": (pa.large_list(pa.string()), ["a"]),
    "struct": (pa.struct([("a", pa.int32()), ("b", pa.string())]), {"a": 1, "b": "x"}),
    "map": (pa.map_(pa.string(), pa.int64()), [("k", 1)]),
    "duration": (pa.duration("us"), 5), "null": (pa.null(), None),
}
# Types discovery names from the footer alone; the rest fall back to DuckDB's DESCRIBE.
FROM_FOOTER = {
    "bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "str", "large_str",
    "dict_str", "bin", "date", "date64", "ts_s", "ts_ms", "ts_us", "tz_s", "tz_ms", "tz_us",
    "dec_5_1", "dec_18_4", "dec_38_10", "duration",  # an INT64 without a logical type, as DuckDB reads it
}


@pytest.mark.parametrize("name", sorted(TYPE_MATRIX))
def test_footer_types_are_exactly_duckdbs(tmp_path, name):
    type_, value = TYPE_MATRIX[name]
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.table({name: pa.array([value], type_)}), path)

    footer = footer_types(pq.read_metadata(path))

    with duckdb.connect() as con:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    if name in FROM_FOOTER:
        assert footer == [(n, t) for n, t, *_ in described]
    else:
        assert footer is None


def test_parquet_scan_describes_only_what_the_footer_cannot_type(tmp_path, lake_source, write_parquet):
    lake = tmp_path / "lake"
    write_parquet(lake / "flat.parquet")
    pq.write_table(pa.table({"tags": pa.array([["a"]], pa.list_(pa.string()))}), lake / "nested.parquet")

    found = by_name(lake_records(lake_source, lake))

    assert types(found["flat"]) == {
        "id": "INTEGER", "amount": "BIGINT", "label": "VARCHAR", "at": "TIMESTAMP WITH TIME ZONE"
    }
    assert types(found["nested"]) == {"tags": "VARCHAR[]"}
