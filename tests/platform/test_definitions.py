"""The whole Definitions, loaded as Dagster loads them, looked up by name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from datacrew_assets.checks import TRANSFORMATION_CHECKS
from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB
from datacrew_resources.quality.dataset import DATASET_CHECKS

# Checks that cannot fail are not declared: consistency needs a key or a reference in
# the demo's `datasets:`, accuracy a value rule; only the dirty file share has rules.
DATASET_CHECKS_BY_KEY = {
    "share/delay_reports": DATASET_CHECKS,
    "lake/flights": ("schema_conformity", "completeness", "row_count_anomaly"),
}

DISCOVERED = [
    "landing/flight_events", "lake/airports", "lake/flights", "lake/planes", "share/delay_reports",
    "warehouse/airlines", "warehouse/weather",
]
WORKSPACE = Path(__file__).parents[2] / "workspace.yaml"
TRANSFORMED = [
    "transformed/airports",
    "transformed/daily_summary",
    "transformed/delays_by_carrier",
    "transformed/flights_clean",
    "transformed/flights_weather",
    "transformed/planes",
    "transformed/route_stats",
]


def _specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    return {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}


def test_every_asset_job_and_check_is_defined(home):
    defs = build_definitions(home)
    specs = _specs(defs)
    assert sorted(specs) == sorted(DISCOVERED + TRANSFORMED)
    assert defs.resolve_job_def(TRANSFORM_JOB) is not None
    check_keys = {
        (k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys
    }
    freshness = {k for k in check_keys if k[1] == "freshness_check"}  # only where an SLA asks for it
    assert check_keys - freshness == {
        *((key, name) for key in TRANSFORMED for name in TRANSFORMATION_CHECKS),
        *((key, name) for key in DISCOVERED
          for name in DATASET_CHECKS_BY_KEY.get(key, ("schema_conformity", "completeness", "consistency",
                                                        "row_count_anomaly"))),
    }


def test_discovered_assets_carry_schema_rows_owner_and_storage(home):
    flights = _specs(build_definitions(home))["lake/flights"]
    assert flights.group_name == "lake"
    assert flights.owners == ["team:flight-ops"]
    assert {"datalake", "parquet"} <= set(flights.kinds)
    assert flights.metadata["dagster/row_count"] == 336_776
    columns = {c.name: c.type for c in flights.metadata["dagster/column_schema"].columns}
    assert columns["dep_delay"] == "DOUBLE" and columns["time_hour"] == "TIMESTAMP WITH TIME ZONE"
    assert flights.metadata["datacrew/partition_keys"] == "year, month"
    assert flights.metadata["dagster/uri"].endswith("*.parquet")
    airlines = _specs(build_definitions(home))["warehouse/airlines"]
    assert airlines.metadata["dagster/row_count"] == 16 and {"warehouse", "duckdb"} <= set(airlines.kinds)


def test_transformations_depend_on_their_sources(home):
    specs = _specs(build_definitions(home))
    deps = {key: sorted(d.asset_key.to_user_string() for d in specs[key].deps) for key in TRANSFORMED}
    assert deps["transformed/delays_by_carrier"] == ["lake/flights", "warehouse/airlines"]
    assert deps["transformed/route_stats"] == ["lake/airports", "transformed/flights_clean"]
    assert deps["transformed/daily_summary"] == ["transformed/flights_clean"]
    clean = specs["transformed/flights_clean"]
    assert clean.owners == ["team:flight-ops"] and {"crewai", "duckdb", "parquet"} <= set(clean.kinds)
    assert clean.code_version and len(clean.metadata["dagster/column_schema"].columns) == 14


def test_definitions_come_from_the_catalog_not_the_sources(home):
    shutil.rmtree(home.root / "sources", ignore_errors=True)
    (home.root / "sources").unlink(missing_ok=True)
    assert len(_specs(build_definitions(home))) == len(DISCOVERED + TRANSFORMED)


def test_loading_definitions_does_not_import_crewai(home):
    code = (
        "import sys; from datacrew_assets.definitions import build_definitions;"
        "from datacrew_resources.config import Home;"
        f"build_definitions(Home.resolve({str(home.root)!r}));"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'crewai'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_dagster_definitions_validate_accepts_the_workspace(home):
    env = {**os.environ, "DATACREW_HOME": str(home.root)}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(WORKSPACE)],
        capture_output=True, text=True, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
