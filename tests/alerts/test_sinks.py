"""Alert sinks and deduplication: exact JSONL, the webhook payload a local receiver gets, one alert per incident."""

from __future__ import annotations

import json
import logging
import multiprocessing
import socket
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datacrew_resources.alerts import Alert, Deduplicator, JsonlSink, WebhookSink, send
from datacrew_resources.alerts.sinks import AlertDeliveryError
from datacrew_resources.config.alerts import AlertsConfig
from datacrew_resources.config.home import Home

from . import WebhookReceiver

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

FAILURE = Alert(
    kind="quality_degradation",
    severity="warning",
    title="Check null_rate failed on silver/orders",
    asset_key="silver/orders",
    check_name="null_rate",
    run_id="run-1",
    details={"null_rate": 0.25, "threshold": 0.05},
)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lines(home: Home) -> list[dict]:
    path = home.state_dir / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_alert_rejects_unknown_kind_and_keys_incidents_without_the_run() -> None:
    with pytest.raises(ValueError, match="unknown alert kind 'disk_full'"):
        Alert(kind="disk_full", title="x")  # type: ignore[arg-type]
    assert FAILURE.incident_key == "quality_degradation|asset:silver/orders|check:null_rate"
    again = Alert(kind="quality_degradation", title="other text", asset_key="silver/orders", check_name="null_rate", run_id="run-2")
    assert again.incident_key == FAILURE.incident_key
    assert Alert(kind="pipeline_failure", title="t", job="daily").incident_key == "pipeline_failure|job:daily"


def test_jsonl_sink_appends_exact_lines(tmp_path: Path) -> None:
    path = tmp_path / "state" / "alerts.jsonl"
    sink = JsonlSink(path)
    sink.send(FAILURE, T0)
    sink.send(Alert(kind="pipeline_failure", title="Run of job daily failed", job="daily"), T0)
    first, second = path.read_text().splitlines()
    assert first == (
        '{"at": "2026-01-02T03:04:05+00:00", "kind": "quality_degradation", "severity": "warning",'
        ' "title": "Check null_rate failed on silver/orders", "asset_key": "silver/orders", "job": null,'
        ' "run_id": "run-1", "check_name": "null_rate", "metric": null,'
        ' "incident_key": "quality_degradation|asset:silver/orders|check:null_rate",'
        ' "details": {"null_rate": 0.25, "threshold": 0.05}}'
    )
    assert json.loads(second)["incident_key"] == "pipeline_failure|job:daily"


def test_webhook_sink_posts_slack_payload(receiver: WebhookReceiver) -> None:
    WebhookSink(receiver.url, timeout=5).send(FAILURE)
    assert receiver.payloads == [
        {
            "text": "[WARNING] Check null_rate failed on silver/orders",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Check null_rate failed on silver/orders"}},
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": "*Kind*\nquality_degradation"},
                        {"type": "mrkdwn", "text": "*Severity*\nwarning"},
                        {"type": "mrkdwn", "text": "*Asset*\nsilver/orders"},
                        {"type": "mrkdwn", "text": "*Check*\nnull_rate"},
                        {"type": "mrkdwn", "text": "*Run*\nrun-1"},
                    ],
                },
                {"type": "section", "text": {"type": "mrkdwn", "text": "• *null_rate*: 0.25\n• *threshold*: 0.05"}},
                {
                    "type": "context",
                    "elements": [
                        {"type": "mrkdwn", "text": "incident `quality_degradation|asset:silver/orders|check:null_rate`"}
                    ],
                },
            ],
        }
    ]


def test_webhook_errors_are_one_line_without_the_secret_path() -> None:
    port = closed_port()
    with pytest.raises(AlertDeliveryError) as down:
        WebhookSink(f"http://127.0.0.1:{port}/services/T000/B000/secret", timeout=2).send(FAILURE)
    assert str(down.value).startswith(f"alert webhook http://127.0.0.1:{port} unreachable: ")
    with WebhookReceiver(status=500) as broken, pytest.raises(AlertDeliveryError) as refused:
        WebhookSink(broken.url, timeout=2).send(FAILURE)
    assert str(refused.value) == f"alert webhook http://127.0.0.1:{broken.server.server_address[1]} answered HTTP 500 Internal Server Error"
    for message in (str(down.value), str(refused.value)):
        assert "\n" not in message and "secret" not in message


def test_send_writes_jsonl_and_webhook(home: Home, receiver: WebhookReceiver) -> None:
    config = AlertsConfig(webhook_url=receiver.url)
    assert send(FAILURE, config, home, clock=FakeClock()) is True
    assert lines(home) == [FAILURE.record(T0)]
    assert [p["text"] for p in receiver.payloads] == ["[WARNING] Check null_rate failed on silver/orders"]


def test_webhook_down_logs_one_line_and_keeps_the_jsonl_record(home: Home, caplog: pytest.LogCaptureFixture) -> None:
    config = AlertsConfig(webhook_url=f"http://127.0.0.1:{closed_port()}/hook/secret", webhook_timeout_seconds=2)
    with caplog.at_level(logging.WARNING, logger="datacrew_resources.alerts"):
        assert send(FAILURE, config, home, clock=FakeClock()) is True
    assert lines(home) == [FAILURE.record(T0)]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = warning.getMessage()
    assert message.startswith("alert webhook http://127.0.0.1:") and "unreachable" in message
    assert "\n" not in message and "secret" not in message


def test_one_incident_one_alert_within_the_window(home: Home, receiver: WebhookReceiver) -> None:
    clock = FakeClock()
    config = AlertsConfig(webhook_url=receiver.url, dedupe_window_minutes=60)
    other = Alert(kind="quality_degradation", title="t", asset_key="silver/orders", check_name="row_count")
    assert send(FAILURE, config, home, clock=clock) is True
    clock.now = T0 + timedelta(minutes=30)
    assert send(FAILURE, config, home, clock=clock) is False
    assert send(other, config, home, clock=clock) is True
    assert [r["incident_key"] for r in lines(home)] == [FAILURE.incident_key, other.incident_key]
    assert len(receiver.payloads) == 2
    assert Deduplicator(home.state_dir / "alerts.sqlite", timedelta(minutes=60)).suppressed(FAILURE.incident_key) == 1
    # The window runs from the last alert sent: past it, the same incident alerts again.
    clock.now = T0 + timedelta(minutes=61)
    assert send(FAILURE, config, home, clock=clock) is True
    clock.now = T0 + timedelta(minutes=62)
    assert send(FAILURE, config, home, clock=clock) is False
    assert [r["at"] for r in lines(home) if r["incident_key"] == FAILURE.incident_key] == [
        T0.isoformat(),
        (T0 + timedelta(minutes=61)).isoformat(),
    ]


def test_dedupe_is_shared_by_separate_deduplicators(home: Home) -> None:
    """Two processes each open the table; the second sees the first's claim."""
    path = home.state_dir / "alerts.sqlite"
    first = Deduplicator(path, timedelta(minutes=5), FakeClock())
    second = Deduplicator(path, timedelta(minutes=5), FakeClock())
    assert first.claim("k") is True
    assert second.claim("k") is False
    assert first.claim("k") is False
    assert first.suppressed("k") == 2


def _claim_in_another_process(path: str) -> bool:
    return Deduplicator(Path(path), timedelta(minutes=5)).claim("race")


def test_dedupe_holds_across_processes_racing(home: Home) -> None:
    """Eight processes claim one incident at once: exactly one alerts."""
    path = str(home.state_dir / "alerts.sqlite")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=8, mp_context=context) as pool:
        claims = list(pool.map(_claim_in_another_process, [path] * 8))
    assert sorted(claims) == [False] * 7 + [True]
    assert Deduplicator(Path(path), timedelta(minutes=5)).suppressed("race") == 7


def test_zero_window_never_deduplicates(home: Home) -> None:
    config = AlertsConfig(dedupe_window_minutes=0)
    assert send(FAILURE, config, home, clock=FakeClock()) is True
    assert send(FAILURE, config, home, clock=FakeClock()) is True
    assert len(lines(home)) == 2


def test_jsonl_off_writes_nothing(home: Home) -> None:
    assert send(FAILURE, AlertsConfig(jsonl=False), home, clock=FakeClock()) is True
    assert not (home.state_dir / "alerts.jsonl").exists()


def test_the_webhook_url_may_come_from_an_environment_variable(monkeypatch):
    config = AlertsConfig(webhook_url="http://unused.invalid/", webhook_url_env="DATACREW_TEST_WEBHOOK")
    monkeypatch.delenv("DATACREW_TEST_WEBHOOK", raising=False)
    assert config.webhook() is None
    monkeypatch.setenv("DATACREW_TEST_WEBHOOK", "http://127.0.0.1:9/hook")
    assert config.webhook() == "http://127.0.0.1:9/hook"
    assert AlertsConfig(webhook_url="http://127.0.0.1:9/x").webhook() == "http://127.0.0.1:9/x"
