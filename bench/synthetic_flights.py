"""Synthetic nycflights13-shaped data and platform homes over it, for `bench.transform_bench`.

`write_flights` writes N flights as one zstd parquet file with DuckDB (about 1 s per
million rows on 2 cores). Every value is a function of the row number and the seed,
so the same (rows, seed) gives the same rows whatever the thread count: each row
draws from independent 64-bit hashes of `row * 16 + k` (DuckDB's multi-argument
`hash(i, seed, k)` correlates across k, which would skew the group counts).

Shape (the nycflights13 `flights` columns): one year (2013), dates uniform over the
year, 16 carriers, 40,000 aircraft (`tailnum`, 2,500 per carrier, so about 14
million distinct aircraft-days at 50 million rows), 3 origins, 100 destinations
with a fixed distance each, right-skewed delays with 2.5 % cancelled flights (NULL
delays) and 0.3 % more missing arrival data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import yaml

from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import Home

SEED = 13
AIRCRAFT_PER_CARRIER = 2_500
AIRLINES = {
    "9E": "Endeavor Air Inc.", "AA": "American Airlines Inc.", "AS": "Alaska Airlines Inc.",
    "B6": "JetBlue Airways", "DL": "Delta Air Lines Inc.", "EV": "ExpressJet Airlines Inc.",
    "F9": "Frontier Airlines Inc.", "FL": "AirTran Airways Corporation",
    "HA": "Hawaiian Airlines Inc.", "MQ": "Envoy Air", "OO": "SkyWest Airlines Inc.",
    "UA": "United Air Lines Inc.", "US": "US Airways Inc.", "VX": "Virgin America",
    "WN": "Southwest Airlines Co.", "YV": "Mesa Airlines Inc.",
}

# Filled with integers and the carrier codes above by `_flights_sql` (no outside text), since
# prepared parameters here halve DuckDB's speed (no constant folding per row). Only the
# draws are hashed; everything after is plain arithmetic on them.
_FLIGHTS = """
WITH draws AS (
  SELECT hash(i * 16 + 1 + {salt}) AS h1,
         hash(i * 16 + 2 + {salt}) AS h2,
         hash(i * 16 + 3 + {salt}) AS h3,
         hash(i * 16 + 4 + {salt}) AS h4,
         hash(i * 16 + 5 + {salt}) AS h5,
         hash(i * 16 + 6 + {salt}) AS h6
  FROM range({rows}) AS r(i)
), picked AS (
  SELECT DATE '2013-01-01' + CAST(h1 % 365 AS INTEGER) AS d,
         CAST(h1 // 365 % 16 AS INTEGER) AS carrier_index,
         CAST(h2 % {per_carrier} AS INTEGER) AS plane,
         CAST(h2 // {per_carrier} % 3 AS INTEGER) AS origin_index,
         CAST(h3 % 100 AS INTEGER) AS dest_index,
         CAST(h3 // 100 % 1000 AS INTEGER) AS flight_index,
         CAST(h4 % 1140 AS INTEGER) + 300 AS sched_minute,
         (h5 % 1000000) / 1000000.0 AS u_dep,
         (h5 // 1000000 % 1000000) / 1000000.0 AS u_arr,
         (h6 % 1000000) / 1000000.0 AS u_air,
         h6 // 1000000 % 1000 AS missing
  FROM draws
), drawn AS (
  SELECT *,
         CASE WHEN missing < 25 THEN NULL
              ELSE round(-8 + least(-30 * ln(1 - u_dep * 0.999999), 900)) END AS dep,
         missing < 28 AS no_arrival,
         CAST(150 + hash(dest_index + {seed}) % 2400 AS INTEGER) AS miles
  FROM picked
)
SELECT
  2013 AS year,
  CAST(month(d) AS INTEGER) AS month,
  CAST(day(d) AS INTEGER) AS day,
  CAST(CASE WHEN dep IS NOT NULL THEN
    ((sched_minute + CAST(dep AS INTEGER)) // 60 % 24) * 100 + (sched_minute + CAST(dep AS INTEGER)) % 60
  END AS INTEGER) AS dep_time,
  CAST(sched_minute // 60 * 100 + sched_minute % 60 AS INTEGER) AS sched_dep_time,
  CAST(dep AS DOUBLE) AS dep_delay,
  CAST(CASE WHEN dep IS NOT NULL AND NOT no_arrival THEN round(dep - 6 + 30 * (u_arr - 0.5)) END AS DOUBLE)
    AS arr_delay,
  {carriers}[carrier_index + 1] AS carrier,
  CAST(carrier_index * 1000 + flight_index + 1 AS INTEGER) AS flight,
  'N' || lpad(CAST(carrier_index * {per_carrier} + plane AS VARCHAR), 5, '0') AS tailnum,
  ['EWR', 'JFK', 'LGA'][origin_index + 1] AS origin,
  'D' || lpad(CAST(dest_index AS VARCHAR), 2, '0') AS dest,
  CAST(CASE WHEN dep IS NOT NULL AND NOT no_arrival THEN round(miles / 8.0 + 20 * u_air) END AS DOUBLE)
    AS air_time,
  miles AS distance,
  CAST(sched_minute // 60 AS INTEGER) AS hour,
  CAST(sched_minute % 60 AS INTEGER) AS minute,
  CAST(d + to_minutes(sched_minute // 60 * 60) AS TIMESTAMP) AT TIME ZONE 'UTC' AS time_hour
FROM drawn
"""


def _flights_sql(rows: int, seed: int) -> str:
    carriers = "[" + ", ".join(f"'{code}'" for code in AIRLINES) + "]"
    return _FLIGHTS.format(rows=int(rows), seed=int(seed), salt=int(seed) << 40, carriers=carriers,
                           per_carrier=AIRCRAFT_PER_CARRIER)


def write_flights(path: Path, rows: int, *, seed: int = SEED, threads: int = 2) -> Path:
    """`rows` synthetic flights as one zstd parquet file at `path` (written to a temp name, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with duckdb.connect(config={"threads": threads}) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"COPY ({_flights_sql(rows, seed)}) TO ? (FORMAT parquet, COMPRESSION zstd)", [str(partial)])
    partial.rename(path)
    return path


def write_warehouse(path: Path) -> Path:
    """The `airlines` dimension (carrier, name) in a DuckDB file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE airlines (carrier VARCHAR PRIMARY KEY, name VARCHAR NOT NULL)")
        con.executemany("INSERT INTO airlines VALUES (?, ?)", list(AIRLINES.items()))
    return path


# The measured transformation: an aggregation joined with a dimension (issue 4).
CARRIER_MONTH = {
    "name": "carrier_month_delays",
    "type": "aggregation",
    "description": "Flights, mean delays and total distance per airline and month",
    "sources": ["lake/flights", "warehouse/airlines"],
    "rules": [
        {"filter": "dep_delay IS NOT NULL"},
        {"join": {"source": "warehouse/airlines", "on": ["carrier"], "how": "inner"}},
        {"group_by": ["carrier", "name", "month"]},
        {"aggregate": {
            "flights": "count(*)",
            "avg_dep_delay": "avg(dep_delay)",
            "avg_arr_delay": "avg(arr_delay)",
            "total_distance": "CAST(sum(distance) AS BIGINT)",
        }},
    ],
    "target_schema": {"columns": [
        {"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
        {"name": "month", "type": "INTEGER", "nullable": False, "primary_key": True},
        {"name": "name", "type": "VARCHAR", "nullable": False},
        {"name": "flights", "type": "BIGINT", "nullable": False, "min": 0},
        {"name": "avg_dep_delay", "type": "DOUBLE", "min": -60, "max": 600},
        {"name": "avg_arr_delay", "type": "DOUBLE", "min": -120, "max": 600},
        {"name": "total_distance", "type": "BIGINT", "min": 0},
    ]},
    "output": {"format": "parquet"},
    "quality": {"blocking": ["consistency"]},
    "owner": "team:analytics",
    "agent": "etl-architect-1",
}

# The memory-hungry one: a first aggregation per aircraft and day (about 14 million
# groups at 50 million rows, ~3.8 GB of hash table in DuckDB), then per airline and
# month. Its output is tiny, so the spill test measures the spill, not output checks.
AIRCRAFT_UTILISATION = {
    "name": "aircraft_utilisation",
    "type": "aggregation",
    "description": "Aircraft-days flown per airline and month, with mean daily flights, distance, "
                   "air time and worst arrival delay per aircraft-day",
    "sources": ["lake/flights", "warehouse/airlines"],
    "rules": [
        {"group_by": ["carrier", "tailnum", "month", "day"]},
        {"aggregate": {
            "flights": "count(*)",
            "distance": "CAST(sum(distance) AS BIGINT)",
            "air_time": "sum(air_time)",
            "worst_arr_delay": "max(arr_delay)",
        }},
        {"join": {"source": "warehouse/airlines", "on": ["carrier"], "how": "inner"}},
        {"group_by": ["carrier", "name", "month"]},
        {"aggregate": {
            "aircraft_days": "count(*)",
            "avg_flights": "avg(flights)",
            "avg_distance": "avg(distance)",
            "avg_air_time": "avg(air_time)",
            "avg_worst_arr_delay": "avg(worst_arr_delay)",
        }},
    ],
    "target_schema": {"columns": [
        {"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
        {"name": "month", "type": "INTEGER", "nullable": False, "primary_key": True},
        {"name": "name", "type": "VARCHAR", "nullable": False},
        {"name": "aircraft_days", "type": "BIGINT", "nullable": False, "min": 1},
        {"name": "avg_flights", "type": "DOUBLE", "min": 1},
        {"name": "avg_distance", "type": "DOUBLE", "min": 0},
        {"name": "avg_air_time", "type": "DOUBLE", "min": 0},
        {"name": "avg_worst_arr_delay", "type": "DOUBLE"},
    ]},
    "output": {"format": "parquet"},
    "quality": {"blocking": ["consistency"]},
    "owner": "team:network-planning",
    "agent": "etl-architect-1",
}
SPECS = (CARRIER_MONTH, AIRCRAFT_UTILISATION)
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "datacrew_resources" / "demo_home" / "datacrew.yaml"


def make_home(root: Path, *, lake: Path, warehouse: Path, memory_limit: str, threads: int = 2) -> Home:
    """A platform home over `lake` (a directory) and `warehouse` (a DuckDB file), discovered.

    Agents (without their resource limits) and quality defaults are the demo's; sources
    point at the absolute paths.
    """
    if root.exists():
        shutil.rmtree(root)
    (root / "specs").mkdir(parents=True)
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["sources"] = [
        {"name": "lake", "type": "data_lake", "uri": str(lake.resolve()), "owner": "team:flight-ops"},
        {"name": "warehouse", "type": "data_warehouse", "uri": str(warehouse.resolve()),
         "owner": "team:analytics"},
    ]
    config["engine"] = {"memory_limit": memory_limit, "threads": threads}
    for agent in config.get("agents", []):
        # Per-agent limits narrow the engine's; the benchmark runs at the engine's settings.
        agent.pop("resource_limits", None)
    (root / "datacrew.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for spec in SPECS:
        (root / "specs" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    home = Home.resolve(root)
    discover(home, home.load_config())
    return home
