"""The platform's definitions carry the alert sensors, configured from datacrew.yaml, and a real
transformation run's SLA breach reaches the alert log."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from datacrew_assets.alerts import RUN_FAILURE_SENSOR, RUN_OUTCOMES_SENSOR, alert_run_outcomes
from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB
from datacrew_resources.config import ConfigErrors, Home
from tests.crew.small_home import small_home

from .delegation_helpers import edit_config


def test_alert_sensors_are_in_the_definitions(home):
    defs = build_definitions(home)
    for name in (RUN_FAILURE_SENSOR, RUN_OUTCOMES_SENSOR):
        assert defs.resolve_sensor_def(name).name == name


def test_bad_alert_settings_are_refused_in_one_line(home):
    edit_config(home, alerts={"webhook_timeout_seconds": 0})
    with pytest.raises(ConfigErrors) as failed:
        home.load_config()
    assert str(failed.value).splitlines() == [
        "datacrew.yaml: alerts.webhook_timeout_seconds: 0: Input should be greater than 0"]


FLIGHTS = [(1, "AA", "JFK", 5.0), (2, "AA", "LGA", 15.0), (3, "UA", "EWR", -3.0), (4, "UA", "EWR", None)]
# Any run is slower than a microsecond; the throughput limit is lifted so latency is the one breach.
SLOW_BY_SPEC = {
    "name": "delays_by_carrier",
    "type": "aggregation",
    "sources": ["lake/flights"],
    "rules": [
        {"filter": "dep_delay IS NOT NULL"},
        {"group_by": ["carrier"]},
        {"aggregate": {"flights": "count(*)", "avg_dep_delay": "avg(dep_delay)"}},
    ],
    "target_schema": {"columns": [
        {"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
        {"name": "flights", "type": "BIGINT", "min": 0},
        {"name": "avg_dep_delay", "type": "DOUBLE"},
    ]},
    "sla": {"max_latency_seconds": 0.000001, "min_throughput_rows_per_second": 0.0},
    "owner": "team:analytics",
    "agent": "etl-architect-1",
}


def test_a_transformation_beyond_its_latency_sla_sends_one_sla_breach_alert(tmp_path):
    home: Home = small_home(tmp_path / "home", flights=FLIGHTS, spec=SLOW_BY_SPEC, config={
        "sources": [{"name": "lake", "type": "data_lake", "uri": "sources/lake", "owner": "team:flight-ops"}],
        "transformations": "specs/*.yaml",
    })
    config = home.load_config().alerts
    job = build_definitions(home).resolve_job_def(TRANSFORM_JOB)
    key = dg.AssetKey(["transformed", "delays_by_carrier"])
    with dg.instance_for_test() as instance:
        run = job.execute_in_process(instance=instance, asset_selection=[key])
        [materialization] = run.asset_materializations_for_node("transformed__delays_by_carrier")
        latency = materialization.metadata["datacrew/latency_seconds"].value

        [alert] = alert_run_outcomes(instance, run.run_id, home=home, config=config)
        assert (alert.kind, alert.asset_key, alert.metric, alert.run_id) == (
            "sla_breach", "transformed/delays_by_carrier", "latency_seconds", run.run_id)
        assert alert.details == {"value": latency, "limit": 0.000001}
        assert alert.title == (
            f"SLA latency_seconds breached on transformed/delays_by_carrier: {latency:g} above the limit 1e-06")

        # The next run breaches it again: the same incident, not sent again.
        again = job.execute_in_process(instance=instance, asset_selection=[key])
        assert alert_run_outcomes(instance, again.run_id, home=home, config=config) == []

    lines = (home.state_dir / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["incident_key"] for line in lines] == [
        "sla_breach|asset:transformed/delays_by_carrier|metric:latency_seconds"]
