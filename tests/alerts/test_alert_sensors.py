"""Alert sensors against a real (temporary) Dagster instance: failed runs and failed checks become alerts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import pytest

from datacrew_assets.alerts import (
    RUN_FAILURE_SENSOR,
    RUN_OUTCOMES_SENSOR,
    alert_definitions,
    alert_sensors,
    check_failure_alert,
)
from datacrew_resources.config.alerts import AlertsConfig
from datacrew_resources.config.home import Home

from . import WebhookReceiver


@dg.op
def explode() -> None:
    raise ValueError("source table vanished\nsecond line of detail")


@dg.job
def nightly_load() -> None:
    explode()


@dg.asset
def orders() -> int:
    return 3


@dg.asset_check(asset=orders)
def orders_not_empty() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"row_count": 0, "min_rows": 1})


@dg.asset_check(asset=orders)
def orders_fresh() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"lag_minutes": 3})


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def sensors(home: Home, receiver: WebhookReceiver) -> dict[str, dg.SensorDefinition]:
    config = AlertsConfig(webhook_url=receiver.url, webhook_timeout_seconds=5)
    return {s.name: s for s in alert_sensors(home=home, config=config)}


def alerts(home: Home) -> list[dict]:
    path = home.state_dir / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_definitions_name_both_sensors_running(home: Home) -> None:
    defs = alert_definitions(home=home, config=AlertsConfig())
    by_name = {s.name: s for s in defs.sensors}
    assert set(by_name) == {"alert_on_run_failure", "alert_on_run_outcomes"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in by_name.values())
    dg.Definitions.validate_loadable(defs)


def test_run_failure_sends_one_pipeline_failure_alert(
    home: Home, receiver: WebhookReceiver, instance: dg.DagsterInstance
) -> None:
    sensor = sensors(home, receiver)[RUN_FAILURE_SENSOR]
    for attempt in range(2):
        result = nightly_load.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name=RUN_FAILURE_SENSOR,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        sensor(context)
        if attempt == 0:
            first_run = result.run_id

    [alert] = alerts(home)  # the second failure of the same job is deduplicated
    assert alert["kind"] == "pipeline_failure"
    assert alert["severity"] == "error"
    assert alert["job"] == "nightly_load"
    assert alert["run_id"] == first_run
    assert alert["incident_key"] == "pipeline_failure|job:nightly_load"
    assert alert["title"] == "Run of job nightly_load failed"
    assert "explode" in alert["details"]["message"]
    assert alert["details"]["failed_steps"] == {"explode": "ValueError: source table vanished"}
    [payload] = receiver.payloads
    assert payload["text"] == "[ERROR] Run of job nightly_load failed"


def test_failed_check_sends_one_quality_alert_and_cursor_moves_on(
    home: Home, receiver: WebhookReceiver, instance: dg.DagsterInstance
) -> None:
    sensor = sensors(home, receiver)[RUN_OUTCOMES_SENSOR]
    first = dg.materialize([orders, orders_not_empty, orders_fresh], instance=instance)
    assert first.success

    result = sensor(dg.build_sensor_context(instance=instance))
    assert result.skip_reason.skip_message == "1 alert(s) sent for 1 finished run(s)"
    [alert] = alerts(home)
    assert alert == {
        "at": alert["at"],
        "kind": "quality_degradation",
        "severity": "error",
        "title": "Check orders_not_empty failed on orders",
        "asset_key": "orders",
        "job": None,
        "run_id": first.run_id,
        "check_name": "orders_not_empty",
        "metric": None,
        "incident_key": "quality_degradation|asset:orders|check:orders_not_empty",
        "details": {"row_count": 0, "min_rows": 1},
    }
    [payload] = receiver.payloads
    assert payload["text"] == "[ERROR] Check orders_not_empty failed on orders"
    assert {"type": "mrkdwn", "text": "*Check*\norders_not_empty"} in payload["blocks"][1]["fields"]

    # Evaluated again from its cursor: nothing new was read, nothing sent, cursor unchanged.
    again = sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
    assert again.skip_reason.skip_message == "0 alert(s) sent for 0 finished run(s)"
    assert again.cursor == result.cursor
    assert len(alerts(home)) == 1

    # The same check fails again: the evaluation is read, but the incident is already alerted.
    assert dg.materialize([orders, orders_not_empty, orders_fresh], instance=instance).success
    third = sensor(dg.build_sensor_context(instance=instance, cursor=again.cursor))
    assert third.skip_reason.skip_message == "0 alert(s) sent for 1 finished run(s)"
    assert third.cursor != again.cursor
    assert len(alerts(home)) == 1
    assert len(receiver.payloads) == 1


def test_warn_checks_alert_as_warnings_with_plain_figures() -> None:
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["silver", "orders"]),
        check_name="null_rate",
        passed=False,
        metadata={"null_rate": dg.MetadataValue.float(0.25), "note": dg.MetadataValue.text("x")},
        severity=dg.AssetCheckSeverity.WARN,
        description="too many nulls",
    )
    alert = check_failure_alert(evaluation, "run-9")
    assert (alert.severity, alert.asset_key, alert.run_id) == ("warning", "silver/orders", "run-9")
    assert alert.details == {"null_rate": 0.25, "note": "x", "description": "too many nulls"}
    assert alert.incident_key == "quality_degradation|asset:silver/orders|check:null_rate"
