"""`alerts:` in datacrew.yaml: each bad value is one line naming file, field and value."""

from __future__ import annotations

import logging

import pytest
import yaml

from datacrew_resources.alerts import Alert, send
from datacrew_resources.config import ConfigErrors, Home
from datacrew_resources.config.alerts import AlertsConfig


def refused(home: Home, alerts: dict) -> list[str]:
    home.config_path.parent.mkdir(parents=True, exist_ok=True)
    home.config_path.write_text(yaml.safe_dump({"alerts": alerts}))
    with pytest.raises(ConfigErrors) as failed:
        home.load_config()
    return str(failed.value).splitlines()


@pytest.mark.parametrize(("alerts", "line"), [
    ({"webhook_timeout_seconds": -1},
     "datacrew.yaml: alerts.webhook_timeout_seconds: -1: Input should be greater than 0"),
    ({"webhook_url": "ftp://hooks.example.com/services/x"},
     "datacrew.yaml: alerts.webhook_url: 'ftp://hooks.example.com/services/x': must be an http:// or https:// URL"),
    ({"webhook_url": "hooks.example.com/services/x"},
     "datacrew.yaml: alerts.webhook_url: 'hooks.example.com/services/x': must be an http:// or https:// URL"),
    ({"webhook_url_env": "ALERT-HOOK"},
     "datacrew.yaml: alerts.webhook_url_env: 'ALERT-HOOK': must be an environment variable name"
     " (letters, digits and _, not starting with a digit)"),
    ({"webhok_url": "http://127.0.0.1:9/hook"},
     "datacrew.yaml: alerts.webhok_url: 'http://127.0.0.1:9/hook': Extra inputs are not permitted"),
    ({"dedupe_window_minutes": -5},
     "datacrew.yaml: alerts.dedupe_window_minutes: -5: Input should be greater than or equal to 0"),
])
def test_a_bad_alert_setting_is_one_line(home: Home, alerts: dict, line: str) -> None:
    assert refused(home, alerts) == [line]


def test_every_bad_setting_is_reported_at_once(home: Home) -> None:
    assert refused(home, {"webhook_timeout_seconds": 0, "webhook_url": "mailto:ops@example.com"}) == [
        "datacrew.yaml: alerts.webhook_url: 'mailto:ops@example.com': must be an http:// or https:// URL",
        "datacrew.yaml: alerts.webhook_timeout_seconds: 0: Input should be greater than 0",
    ]


def test_a_webhook_url_from_the_environment_that_is_not_http_is_logged_unseen(
    home: Home, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The environment is read when an alert is sent: a bad value is one warning, never echoed."""
    monkeypatch.setenv("DATACREW_TEST_WEBHOOK", "hooks.example.com/services/T000/secret")
    alert = Alert(kind="pipeline_failure", title="Run of job daily failed", job="daily")
    with caplog.at_level(logging.WARNING, logger="datacrew_resources.alerts"):
        assert send(alert, AlertsConfig(webhook_url_env="DATACREW_TEST_WEBHOOK"), home) is True
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "alert webhook URL is not http(s)://host/...: alert not posted"]
    assert (home.state_dir / "alerts.jsonl").read_text().count("\n") == 1  # the JSONL record is kept
