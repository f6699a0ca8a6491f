"""Fixture data as plain Python rows, and helpers to build specs and read outputs."""

from __future__ import annotations

from pathlib import Path

import duckdb

from datacrew_resources.config.spec import TransformationSpec

FLIGHT_COLUMNS = ("id", "carrier", "origin", "dep_delay", "distance")
FLIGHT_TYPES = ("INTEGER", "VARCHAR", "VARCHAR", "DOUBLE", "BIGINT")
FLIGHTS = [
    (1, "AA", "JFK", 10.0, 100),
    (2, "AA", "LGA", None, 200),
    (3, "UA", "JFK", 5.5, 300),
    (4, "DL", "EWR", -3.0, 50),
    (5, "UA", "EWR", 20.0, 250),
    (6, "B6", "JFK", 1.0, 80),
]
AIRLINES = [("AA", "American"), ("UA", "United"), ("DL", "Delta"), ("WN", "Southwest")]


def flights_as_dicts() -> list[dict]:
    return [dict(zip(FLIGHT_COLUMNS, row)) for row in FLIGHTS]


def write_table(con: duckdb.DuckDBPyConnection, table: str, columns: str, rows: list[tuple]) -> None:
    con.execute(f"CREATE TABLE {table} ({columns})")
    con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)


def make_spec(rules: list, columns: list, *, sources: list[str] | None = None, name: str = "t") -> TransformationSpec:
    """A spec reading `sources`; `columns` items are (name, type) pairs or TargetColumn dicts."""
    declared = [c if isinstance(c, dict) else {"name": c[0], "type": c[1]} for c in columns]
    return TransformationSpec.model_validate({
        "name": name,
        "type": "etl",
        "sources": sources or ["lake/flights"],
        "rules": rules,
        "target_schema": {"columns": declared},
    })


def read_rows(path: Path, order_by: str = "1") -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(f"SELECT * FROM read_parquet('{path}') ORDER BY {order_by}").fetchall()
