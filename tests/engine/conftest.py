"""Small fixtures built with DuckDB itself under tmp_path."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from datacrew_resources.engine import Engine, SourceRef

from .helpers import AIRLINES, FLIGHT_COLUMNS, FLIGHT_TYPES, FLIGHTS, write_table


@pytest.fixture
def lake(tmp_path: Path) -> dict[str, SourceRef]:
    """Flights as parquet, airlines as a DuckDB warehouse table, CSV and JSON copies."""
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect()
    write_table(con, "flights", ", ".join(f"{c} {t}" for c, t in zip(FLIGHT_COLUMNS, FLIGHT_TYPES)), FLIGHTS)
    write_table(con, "airlines", "carrier VARCHAR, name VARCHAR", AIRLINES)
    con.execute(f"COPY flights TO '{data / 'flights.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY airlines TO '{data / 'airlines.csv'}' (FORMAT csv, HEADER)")
    con.execute(f"COPY airlines TO '{data / 'airlines.json'}' (FORMAT json)")
    con.execute(f"COPY flights TO '{data / 'by_carrier'}' (FORMAT parquet, PARTITION_BY (carrier))")
    con.close()
    warehouse = duckdb.connect(str(data / "warehouse.db"))
    write_table(warehouse, "airlines", "carrier VARCHAR, name VARCHAR", AIRLINES)
    warehouse.close()
    return {
        "lake/flights": SourceRef("lake/flights", "parquet", str(data / "flights.parquet")),
        "warehouse/airlines": SourceRef("warehouse/airlines", "duckdb_table", str(data / "warehouse.db"),
                                        table="main.airlines"),
        "files/airlines_csv": SourceRef("files/airlines_csv", "csv", str(data / "airlines.csv")),
        "files/airlines_json": SourceRef("files/airlines_json", "json", str(data / "airlines.json")),
        "lake/by_carrier": SourceRef("lake/by_carrier", "parquet", str(data / "by_carrier/**/*.parquet"),
                                     hive_partitioning=True),
    }


@pytest.fixture
def engine(lake: dict[str, SourceRef], tmp_path: Path) -> Engine:
    return Engine(lake, output_dir=tmp_path / "out", temp_dir=tmp_path / "tmp")
