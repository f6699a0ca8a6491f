"""Materializing transformations through Dagster: crew trace, metadata, checks, blocking."""

from __future__ import annotations

import dagster as dg
import pytest

from datacrew_assets.checks import ACCURACY, COMPLETENESS, CONSISTENCY

from .conftest import raw_flights, run_assets, write_spec


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def _materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }


def test_crew_materializes_with_trace_rows_and_passing_checks(home):
    result = run_assets(home, "transformed/delays_by_carrier")
    assert result.success
    metadata = _materialized(result)["transformed/delays_by_carrier"]
    assert metadata["dagster/row_count"].value == 16
    assert metadata["dagster/uri"].value == str(home.output_path(["transformed", "delays_by_carrier"]))
    calls = [(c["tool"], c["arguments"]) for c in metadata["datacrew/tool_calls"].value]
    assert calls == [
        ("inspect_dataset", {"key": "lake/flights"}),
        ("inspect_dataset", {"key": "warehouse/airlines"}),
        ("compile_plan", {}),
        ("execute_plan", {}),
        ("validate_output", {}),
    ]
    assert metadata["datacrew/token_usage"].value["total_tokens"] == 0  # the planner is not a language model
    assert metadata["datacrew/agent"].value == "etl-architect-1"
    assert "JOIN" in metadata["datacrew/sql"].value.upper()
    checks = _checks(result)
    for name in (COMPLETENESS, CONSISTENCY, ACCURACY):
        evaluation = checks[("transformed/delays_by_carrier", name)]
        assert evaluation.passed and evaluation.metadata["value"].value == 1.0
        assert evaluation.metadata["row_count"].value == 16
    # The materialization is in the home's persistent instance, as the UI reads it.
    event = dg.DagsterInstance.get().get_latest_materialization_event(dg.AssetKey(["transformed", "delays_by_carrier"]))
    assert event is not None and event.run_id == result.run_id


DUPLICATED = """\
name: origin_carriers
type: etl
description: one row per flight, keyed (wrongly) by carrier, so keys repeat
sources: [lake/flights]
rules:
  - filter: month = 1 AND day = 1
  - select: [carrier, origin, dep_delay]
target_schema:
  on_violation: warn
  columns:
    - {name: carrier, type: VARCHAR, nullable: false, primary_key: true}
    - {name: origin, type: VARCHAR, nullable: false, accepted_values: [JFK]}
    - {name: dep_delay, type: DOUBLE}
quality: {blocking: [BLOCKING]}
owner: team:qa
agent: etl-architect-1
"""

DOWNSTREAM = """\
name: after_origin_carriers
type: aggregation
sources: [transformed/origin_carriers]
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


def _raw_day_one(home) -> list[tuple]:
    return raw_flights(home, "SELECT carrier, origin, dep_delay FROM flights WHERE month = 1 AND day = 1")


@pytest.mark.parametrize("blocking", ["consistency", "completeness"])
def test_failing_checks_measure_exact_figures_and_block_only_when_blocking(home, blocking):
    write_spec(home, "origin_carriers", DUPLICATED.replace("BLOCKING", blocking))
    write_spec(home, "after_origin_carriers", DOWNSTREAM)
    rows = _raw_day_one(home)
    distinct_carriers = len({r[0] for r in rows})
    not_jfk = sum(1 for r in rows if r[1] != "JFK")
    null_delays = sum(1 for r in rows if r[2] is None)

    result = run_assets(home, "transformed/origin_carriers", "transformed/after_origin_carriers")
    checks = _checks(result)
    consistency = checks[("transformed/origin_carriers", CONSISTENCY)]
    assert not consistency.passed
    assert consistency.metadata["row_count"].value == len(rows)
    assert consistency.metadata["duplicate_or_missing_key_rows"].value == len(rows) - distinct_carriers
    assert consistency.metadata["value"].value == pytest.approx(distinct_carriers / len(rows), abs=1e-6)
    assert consistency.metadata["threshold"].value == 0.98
    assert all(r["copies"] > 1 for r in consistency.metadata["sample_failing_rows"].value)
    accuracy = checks[("transformed/origin_carriers", ACCURACY)]
    assert not accuracy.passed and accuracy.metadata["failing_rows"].value == not_jfk
    assert all(r["origin"] != "JFK" for r in accuracy.metadata["sample_failing_rows"].value)
    completeness = checks[("transformed/origin_carriers", COMPLETENESS)]
    assert completeness.metadata["null_cells"].value == null_delays
    assert completeness.passed == (null_delays / (3 * len(rows)) <= 0.05)

    materialized = _materialized(result)
    if blocking == "consistency":
        assert consistency.severity == dg.AssetCheckSeverity.ERROR
        assert "transformed/after_origin_carriers" not in materialized
    else:
        assert consistency.severity == dg.AssetCheckSeverity.WARN
        assert materialized["transformed/after_origin_carriers"]["dagster/row_count"].value == len({r[1] for r in rows})


def test_quarantine_sets_bad_rows_aside_and_records_them(home):
    write_spec(home, "origin_carriers", DUPLICATED.replace("on_violation: warn", "on_violation: quarantine").replace("[BLOCKING]", "[consistency]"))
    rows = _raw_day_one(home)
    copies: dict[str, int] = {}
    for carrier, _, _ in rows:
        copies[carrier] = copies.get(carrier, 0) + 1
    # Every copy of a repeated key, and every other row not from JFK, is set aside.
    bad = sum(1 for carrier, origin, _ in rows if copies[carrier] > 1 or origin != "JFK")
    result = run_assets(home, "transformed/origin_carriers")
    assert result.success
    metadata = _materialized(result)["transformed/origin_carriers"]
    assert metadata["datacrew/quarantined_rows"].value == bad
    assert metadata["dagster/row_count"].value == len(rows) - bad
    assert metadata["datacrew/quarantine_by_kind"].value["primary_key"] == sum(n for n in copies.values() if n > 1)
    assert metadata["datacrew/quarantine_uri"].value.endswith("origin_carriers.quarantine.parquet")
    assert all(e.passed for e in result.get_asset_check_evaluations())  # what is left is clean
