"""A small discovered home for crew tests: one lake parquet file of flights and one spec."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import yaml

from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import Home
from datacrew_resources.environment import prepare_environment


def write_flights(lake: Path, flights: Sequence[tuple]) -> None:
    """`flights` (id, carrier, origin, dep_delay) as `lake/flights.parquet`, the lake created."""
    lake.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute("CREATE TABLE flights (id INTEGER, carrier VARCHAR, origin VARCHAR, dep_delay DOUBLE)")
        con.executemany("INSERT INTO flights VALUES (?, ?, ?, ?)", flights)
        con.execute("COPY flights TO ? (FORMAT parquet)", [str(lake / "flights.parquet")])


def small_home(root: Path, *, flights: Sequence[tuple], spec: dict[str, Any], config: dict[str, Any]) -> Home:
    """`flights` (id, carrier, origin, dep_delay) as `lake/flights`, `spec` as its only spec, discovered."""
    write_flights(root / "sources" / "lake", flights)
    (root / "specs").mkdir()
    (root / "specs" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    home = Home(root)
    home.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    prepare_environment(home)
    discover(home, home.load_config())
    return home
