"""Discovered datasets' checks through Dagster: real runs, blocking, observations, history, freshness."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from datacrew_assets.cli import main
from datacrew_assets.dataset_checks import (
    DATASET_QUALITY_JOB,
    FRESHNESS_SENSOR,
    MONITOR_SCHEDULE,
    RETRY,
    check_result,
    row_count_history,
)
from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB, transformation_selection
from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import Home
from datacrew_resources.config.datasets import dataset_settings
from datacrew_resources.environment import prepare_environment
from datacrew_resources.quality.dataset import CheckOutcome

from ..quality.test_dataset_assessment import ORDERS, ORDERS_RULES

ORDER_REGIONS = {
    "name": "order_regions",
    "type": "etl",
    "sources": ["lake/orders"],
    "rules": [{"select": ["order_id", "region"]}],
    "target_schema": {"columns": [{"name": "order_id", "type": "BIGINT"}, {"name": "region", "type": "VARCHAR"}]},
}
EVENT_KINDS = {
    "name": "event_kinds",
    "type": "aggregation",
    "sources": ["lake/events"],
    "rules": [{"group_by": ["kind"]}, {"aggregate": {"events": "count(*)"}}],
    "target_schema": {
        "columns": [
            {"name": "kind", "type": "VARCHAR", "nullable": False, "primary_key": True},
            {"name": "events", "type": "BIGINT", "nullable": False},
        ]
    },
}


def write_events(home: Home, rows: int, *, kind_column: str = "kind") -> Path:
    path = home.root / "sources" / "lake" / "events.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT i AS event_id, ['a', 'b'][i % 2 + 1] AS \"{kind_column}\" FROM range(?) t(i)) TO ? (FORMAT parquet)",
            [rows, str(path)],
        )
    return path


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    """lake/orders (dirty: its checks warn), lake/events (clean), warehouse/customers; two specs."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = Home(tmp_path)
    lake = tmp_path / "sources" / "lake"
    lake.mkdir(parents=True)
    (lake / "orders.csv").write_text(ORDERS)
    write_events(home, 100)
    with duckdb.connect(str(tmp_path / "sources" / "warehouse.duckdb")) as con:
        con.execute("CREATE TABLE customers AS SELECT * FROM (VALUES (10, 'a'), (11, 'b'), (12, 'c')) v(customer_id, name)")
    (tmp_path / "specs").mkdir()
    for spec in (ORDER_REGIONS, EVENT_KINDS):
        (tmp_path / "specs" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    config = {
        "sources": [
            {"name": "lake", "type": "data_lake", "uri": "sources/lake"},
            {"name": "warehouse", "type": "data_warehouse", "uri": "sources/warehouse.duckdb"},
        ],
        "datasets": {
            "lake/orders": {**ORDERS_RULES, "freshness_hours": 24},
            "lake/events": {"freshness_hours": 24, "row_count_anomaly": {"min_history": 3}},
        },
    }
    home.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    prepare_environment(home)
    discover(home, home.load_config())
    return home


def run_job(home: Home, name: str) -> dg.ExecuteInProcessResult:
    job = build_definitions(home).resolve_job_def(name)
    return job.execute_in_process(instance=dg.DagsterInstance.get(), raise_on_error=False)


def run_checks(home: Home, *keys: dg.AssetCheckKey) -> dg.ExecuteInProcessResult:
    """Only the checks `keys`, as the UI's "Execute" on a check launches them."""
    defs = build_definitions(home)
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=dg.AssetSelection.checks(*keys),
        resources=defs.resources,
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
    )


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_definitions_name_every_check_job_schedule_and_sensor(home):
    defs = build_definitions(home)
    checks = {key.to_user_string() for d in defs.asset_checks for key in d.check_keys}
    everywhere = ("schema_conformity", "completeness", "row_count_anomaly")
    for dataset in ("lake/orders", "lake/events", "warehouse/customers"):
        assert {f"{dataset}:{name}" for name in everywhere} <= checks
    # Only lake/orders has a key and value rules: elsewhere both would be 1.0 by construction.
    assert {c for c in checks if c.endswith((":consistency", ":accuracy"))} == {
        "lake/orders:consistency", "lake/orders:accuracy"
    }
    assert {"lake/orders:freshness_check", "lake/events:freshness_check"} <= checks
    assert "warehouse/customers:freshness_check" not in checks  # no freshness_hours
    schedule = defs.resolve_schedule_def(MONITOR_SCHEDULE)
    assert schedule.cron_schedule == "*/5 * * * *" and schedule.job_name == DATASET_QUALITY_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_sensor_def(FRESHNESS_SENSOR).default_status == dg.DefaultSensorStatus.RUNNING
    ops = [d for d in defs.asset_checks if any(k.name == "schema_conformity" for k in d.check_keys)]
    assert all(d.node_def.retry_policy == RETRY for d in ops)
    assert RETRY.max_retries == 1 and RETRY.delay == 60
    blocking = {k.to_user_string() for d in ops for s in d.check_specs if s.blocking for k in [s.key]}
    assert blocking == {f"{d}:schema_conformity" for d in ("lake/orders", "lake/events", "warehouse/customers")}


def test_monitor_cron_comes_from_datacrew_yaml(home):
    config = yaml.safe_load(home.config_path.read_text())
    config["datasets"]["monitor_cron"] = "*/10 * * * *"
    home.config_path.write_text(yaml.safe_dump(config))
    assert build_definitions(home).resolve_schedule_def(MONITOR_SCHEDULE).cron_schedule == "*/10 * * * *"


def test_quality_job_records_checks_and_observations(home):
    result = run_job(home, DATASET_QUALITY_JOB)
    assert result.success  # warnings only
    checks = evaluations(result)
    assert len(checks) == 11  # five for lake/orders, three each for the datasets without rules
    consistency = checks[("lake/orders", "consistency")]
    assert not consistency.passed and consistency.severity == dg.AssetCheckSeverity.WARN
    assert consistency.metadata["value"].value == round(4 / 6, 6)
    assert consistency.metadata["threshold"].value == 0.98
    assert consistency.metadata["orphan_rows"].value == 2
    assert consistency.metadata["orphans_by_column"].value == {"customer_id": 2}
    assert {"order_id": 2, "copies": 2} in consistency.metadata["sample_failing_rows"].value
    assert checks[("lake/orders", "accuracy")].metadata["value"].value == 0.5
    assert checks[("lake/events", "completeness")].passed
    assert "sample_failing_rows" not in checks[("lake/events", "completeness")].metadata
    instance = dg.DagsterInstance.get()
    [record] = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(["lake", "orders"])), limit=5).records
    metadata = record.asset_observation.metadata
    assert metadata["dagster/row_count"].value == 6
    assert metadata["datacrew/quality_score"].value == round((22 / 24 + 4 / 6 + 0.5) / 3, 6)
    assert metadata["datacrew/consistency"].value == round(4 / 6, 6)
    mtime = os.stat(home.root / "sources" / "lake" / "orders.csv").st_mtime
    assert metadata["dagster/last_updated_timestamp"].value == mtime


def test_a_vanished_file_fails_its_checks_and_spares_the_others(home):
    (home.root / "sources" / "lake" / "orders.csv").unlink()
    result = run_job(home, DATASET_QUALITY_JOB)
    checks = evaluations(result)
    vanished = f"lake/orders vanished: nothing at {home.root / 'sources' / 'lake' / 'orders.csv'}"
    for name in ("schema_conformity", "completeness", "consistency", "accuracy", "row_count_anomaly"):
        assert not checks[("lake/orders", name)].passed
        assert checks[("lake/orders", name)].description == vanished
        assert ("lake/events", name) not in checks or checks[("lake/events", name)].passed
    assert checks[("lake/orders", "schema_conformity")].severity == dg.AssetCheckSeverity.ERROR
    assert not result.success  # a blocking check failed; the step still reported every dataset


def test_row_count_anomaly_judges_the_observed_history(home):
    instance = dg.DagsterInstance.get()
    key = dg.AssetKey(["lake", "events"])
    anomaly = dg.AssetCheckKey(key, "row_count_anomaly")
    for rows in (100, 102, 98, 101):
        write_events(home, rows)
        result = run_checks(home, anomaly)
        assert evaluations(result)[("lake/events", "row_count_anomaly")].passed
    assert row_count_history(instance, key, 20) == [101, 98, 102, 100]  # newest first
    write_events(home, 10)
    result = run_checks(home, anomaly)
    check = evaluations(result)[("lake/events", "row_count_anomaly")]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    # median of (101, 98, 102, 100) is 100.5; deviations 0.5, 2.5, 1.5, 0.5: MAD 1.0
    assert check.metadata["value"].value == round(90.5 / 1.4826, 6)
    assert check.metadata["median"].value == 100.5 and check.metadata["history"].value == 4


def test_schema_conformity_blocks_unless_the_kind_cannot_be_scanned(home):
    config = home.load_config()
    settings = dataset_settings(config.datasets, config.quality, "lake/orders")
    key = dg.AssetKey(["lake", "orders"])
    failed = CheckOutcome("schema_conformity", False, "lake/orders vanished: nothing at x")
    assert check_result(key, failed, settings).severity == dg.AssetCheckSeverity.ERROR
    assert check_result(key, failed, settings, scannable=False).severity == dg.AssetCheckSeverity.WARN
    assert check_result(key, failed, settings).metadata["threshold"].value == 1.0


def test_a_changed_schema_blocks_its_readers_while_warnings_do_not(home):
    write_events(home, 100, kind_column="category")  # renamed after discovery
    result = run_job(home, TRANSFORM_JOB)
    checks = evaluations(result)
    conformity = checks[("lake/events", "schema_conformity")]
    assert not conformity.passed and conformity.severity == dg.AssetCheckSeverity.ERROR
    assert conformity.metadata["missing_columns"].value == 1 and conformity.metadata["extra_columns"].value == 1
    assert not checks[("lake/orders", "accuracy")].passed  # a warning: its reader still runs
    assert materialized(result) == {"transformed/order_regions"}
    skipped = {e.step_key for e in result.all_events if e.event_type_value in ("STEP_SKIPPED", "STEP_FAILURE")}
    assert "transformed__event_kinds" not in {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "dataset_checks__lake__events" in skipped
    assert not result.success


def test_clean_inputs_let_every_transformation_run(home):
    result = run_job(home, TRANSFORM_JOB)
    assert materialized(result) == {"transformed/order_regions", "transformed/event_kinds"}
    assert evaluations(result)[("lake/events", "schema_conformity")].passed


def test_one_transformation_runs_after_the_checks_of_what_it_reads(home):
    write_events(home, 100, kind_column="category")
    defs = build_definitions(home)
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=transformation_selection([dg.AssetKey(["transformed", "event_kinds"])]),
        resources=defs.resources,
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
    )
    checked = {key[0] for key in evaluations(result)}
    assert checked == {"lake/events"}  # not lake/orders: nothing selected reads it
    assert materialized(result) == set()


def _freshness(home: Home) -> dict[str, bool]:
    run_job(home, DATASET_QUALITY_JOB)  # observes the datasets' modification times
    keys = [dg.AssetCheckKey(dg.AssetKey(k.split("/")), "freshness_check") for k in ("lake/orders", "lake/events")]
    result = run_checks(home, *keys)
    return {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}


def test_the_freshness_sensor_requests_the_freshness_checks(home):
    defs = build_definitions(home)
    sensor = defs.resolve_sensor_def(FRESHNESS_SENSOR)
    context = dg.build_sensor_context(instance=dg.DagsterInstance.get(), definitions=defs)
    request = sensor(context)
    assert isinstance(request, dg.RunRequest) and request.asset_check_keys
    assert {k.to_user_string() for k in request.asset_check_keys} <= {
        "lake/orders:freshness_check", "lake/events:freshness_check"
    }


def test_freshness_fails_a_stale_file_and_passes_a_fresh_one(home):
    three_days_ago = time.time() - 3 * 24 * 3600
    os.utime(home.root / "sources" / "lake" / "orders.csv", (three_days_ago, three_days_ago))
    assert _freshness(home) == {"lake/orders": False, "lake/events": True}


def test_bad_dataset_config_is_one_line_and_touches_nothing(home, capsys):
    catalog = home.catalog_path.read_bytes()
    outputs = sorted(home.outputs_dir.rglob("*"))
    config = yaml.safe_load(home.config_path.read_text())
    bad = {
        "Lake/Orders": ({}, "datasets.Lake/Orders: 'Lake/Orders': not a dataset key: must be 'source/dataset' in lowercase"),
        "lake/orders": (
            {"columns": {"amount": {"min": 5, "max": 1}}},
            "datasets.lake/orders.columns.amount: {'max': 1, 'min': 5}: min 5 is above max 1",
        ),
    }
    for key, (rules, message) in bad.items():
        broken = {**config, "datasets": {key: rules}}
        home.config_path.write_text(yaml.safe_dump(broken))
        assert main(["validate", "--home", str(home.root)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"datacrew: datacrew.yaml: {message}"
    for rules, field, value in [
        ({"completeness": 1.5}, "datasets.lake/orders.completeness", "1.5"),
        ({"blocking": ["freshness"]}, "datasets.lake/orders.blocking[0]", "'freshness'"),
        ({"columns": {"region": {"pattern": "("}}}, "datasets.lake/orders.columns.region.pattern", "'('"),
        ({"columns": {"customer_id": {"references": "customers"}}}, "datasets.lake/orders.columns.customer_id.references", "'customers'"),
        ({"row_count_anomaly": {"window": 0}}, "datasets.lake/orders.row_count_anomaly.window", "0"),
        ({"freshness_hours": "1d"}, "datasets.lake/orders.freshness_hours", "'1d'"),
        ({"primary_key": ["a", "a"]}, "datasets.lake/orders.primary_key", ""),
    ]:
        home.config_path.write_text(yaml.safe_dump({**config, "datasets": {"lake/orders": rules}}))
        assert main(["validate", "--home", str(home.root)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"datacrew: datacrew.yaml: {field}: {value}") and "\n" not in err, err
    home.config_path.write_text(yaml.safe_dump({**config, "datasets": {"monitor_cron": "every minute"}}))
    assert main(["discover", "--home", str(home.root)]) == 2
    assert capsys.readouterr().err.strip() == "datacrew: datacrew.yaml: datasets.monitor_cron: 'every minute': not a valid cron expression"
    assert home.catalog_path.read_bytes() == catalog
    assert sorted(home.outputs_dir.rglob("*")) == outputs


def test_validate_names_keys_and_columns_the_catalog_does_not_know(home, capsys):
    config = yaml.safe_load(home.config_path.read_text())
    config["datasets"] = {
        "lake/ordres": {},
        "lake/orders": {
            "primary_key": ["order_key"],
            "columns": {"customer_id": {"references": "warehouse/customers.id"}, "amount": {"min": 0}},
        },
        "lake/events": {"columns": {"kind": {"references": "warehouse/clients.customer_id"}}},
    }
    home.config_path.write_text(yaml.safe_dump(config))
    assert main(["validate", "--home", str(home.root)]) == 2
    lines = [line.removeprefix("datacrew: ") for line in capsys.readouterr().err.strip().splitlines()]
    assert lines == [
        "datacrew.yaml: datasets.lake/events.columns.kind.references: 'warehouse/clients.customer_id': "
        "no such dataset or transformation",
        "datacrew.yaml: datasets.lake/orders.primary_key[0]: 'order_key': not a column of lake/orders",
        "datacrew.yaml: datasets.lake/orders.columns.customer_id.references: 'warehouse/customers.id': "
        "warehouse/customers has no column 'id'",
        "datacrew.yaml: datasets.lake/ordres: 'lake/ordres': not in the catalog",
    ]
