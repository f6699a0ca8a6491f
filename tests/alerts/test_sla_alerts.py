"""SLA breaches recorded on materializations become sla_breach alerts: one per asset and metric, once per incident."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import pytest

from datacrew_assets.alerts import RUN_OUTCOMES_SENSOR, alert_run_outcomes, alert_sensors
from datacrew_resources.config.alerts import AlertsConfig
from datacrew_resources.config.home import Home

from . import WebhookReceiver

BREACHES = [
    {"metric": "latency_seconds", "value": 412.5, "limit": 300.0},
    {"metric": "throughput_rows_per_second", "value": 1.75, "limit": 2.777778},
]


@dg.asset(key=["transformed", "route_stats"])
def route_stats() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"datacrew/sla_breaches": dg.JsonMetadataValue(BREACHES)})


@dg.asset(key=["transformed", "airports"])
def airports() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"datacrew/sla_breaches": dg.JsonMetadataValue([])})


@dg.asset_check(asset=route_stats)
def route_stats_complete() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"value": 0.5, "threshold": 0.95})


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def outcomes_sensor(home: Home, receiver: WebhookReceiver) -> dg.SensorDefinition:
    config = AlertsConfig(webhook_url=receiver.url, webhook_timeout_seconds=5)
    [sensor] = [s for s in alert_sensors(home=home, config=config) if s.name == RUN_OUTCOMES_SENSOR]
    return sensor


def alerts(home: Home) -> list[dict]:
    path = home.state_dir / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def slack(title: str, metric: str, run_id: str, value: float, limit: float) -> dict:
    return {
        "text": f"[WARNING] {title}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Kind*\nsla_breach"},
                    {"type": "mrkdwn", "text": "*Severity*\nwarning"},
                    {"type": "mrkdwn", "text": "*Asset*\ntransformed/route_stats"},
                    {"type": "mrkdwn", "text": f"*Metric*\n{metric}"},
                    {"type": "mrkdwn", "text": f"*Run*\n{run_id}"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"• *value*: {value}\n• *limit*: {limit}"}},
            {
                "type": "context",
                "elements": [{
                    "type": "mrkdwn",
                    "text": f"incident `sla_breach|asset:transformed/route_stats|metric:{metric}`",
                }],
            },
        ],
    }


def test_each_breached_metric_is_one_alert_and_a_repeat_is_none(
    home: Home, receiver: WebhookReceiver, instance: dg.DagsterInstance
) -> None:
    sensor = outcomes_sensor(home, receiver)
    first = dg.materialize([route_stats, airports], instance=instance)
    assert first.success

    result = sensor(dg.build_sensor_context(instance=instance))
    assert result.skip_reason.skip_message == "2 alert(s) sent for 1 finished run(s)"
    latency, throughput = alerts(home)
    assert latency == {
        "at": latency["at"],
        "kind": "sla_breach",
        "severity": "warning",
        "title": "SLA latency_seconds breached on transformed/route_stats: 412.5 above the limit 300",
        "asset_key": "transformed/route_stats",
        "job": None,
        "run_id": first.run_id,
        "check_name": None,
        "metric": "latency_seconds",
        "incident_key": "sla_breach|asset:transformed/route_stats|metric:latency_seconds",
        "details": {"value": 412.5, "limit": 300.0},
    }
    assert throughput["title"] == (
        "SLA throughput_rows_per_second breached on transformed/route_stats: 1.75 below the minimum 2.77778"
    )
    assert throughput["incident_key"] == "sla_breach|asset:transformed/route_stats|metric:throughput_rows_per_second"
    assert throughput["details"] == {"value": 1.75, "limit": 2.777778}
    assert receiver.payloads == [
        slack(latency["title"], "latency_seconds", first.run_id, 412.5, 300.0),
        slack(throughput["title"], "throughput_rows_per_second", first.run_id, 1.75, 2.777778),
    ]

    # The same SLAs breached again by the next run: read, and suppressed as the same incidents.
    assert dg.materialize([route_stats, airports], instance=instance).success
    again = sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
    assert again.skip_reason.skip_message == "0 alert(s) sent for 1 finished run(s)"
    assert len(alerts(home)) == 2
    assert len(receiver.payloads) == 2


def test_alert_run_outcomes_sends_one_runs_alerts_once_and_the_sensor_adds_none(
    home: Home, receiver: WebhookReceiver, instance: dg.DagsterInstance
) -> None:
    config = AlertsConfig(webhook_url=receiver.url, webhook_timeout_seconds=5)
    run = dg.materialize([route_stats, route_stats_complete, airports], instance=instance)
    assert run.success

    sent = alert_run_outcomes(instance, run.run_id, home=home, config=config)
    assert [(a.kind, a.check_name, a.metric) for a in sent] == [
        ("sla_breach", None, "latency_seconds"),
        ("sla_breach", None, "throughput_rows_per_second"),
        ("quality_degradation", "route_stats_complete", None),
    ]
    assert {a.run_id for a in sent} == {run.run_id}
    assert [r["incident_key"] for r in alerts(home)] == [a.incident_key for a in sent]

    # Called again (say the demo ran twice) and then the sensor's tick: nothing more is sent.
    assert alert_run_outcomes(instance, run.run_id, home=home, config=config) == []
    tick = outcomes_sensor(home, receiver)(dg.build_sensor_context(instance=instance))
    assert tick.skip_reason.skip_message == "0 alert(s) sent for 1 finished run(s)"
    assert len(receiver.payloads) == 3


def test_a_partitioned_breach_names_its_partition(home: Home, instance: dg.DagsterInstance) -> None:
    @dg.asset(key=["transformed", "daily"], partitions_def=dg.StaticPartitionsDefinition(["2013-01-01"]))
    def daily() -> dg.MaterializeResult:
        breach = {"metric": "error_rate", "value": 0.25, "limit": 0.001}
        return dg.MaterializeResult(metadata={"datacrew/sla_breaches": dg.JsonMetadataValue([breach])})

    run = dg.materialize([daily], instance=instance, partition_key="2013-01-01")
    [alert] = alert_run_outcomes(instance, run.run_id, home=home, config=AlertsConfig())
    assert alert.title == "SLA error_rate breached on transformed/daily: 0.25 above the limit 0.001"
    assert alert.details == {"value": 0.25, "limit": 0.001, "partition": "2013-01-01"}
