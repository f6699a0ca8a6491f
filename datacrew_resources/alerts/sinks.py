"""Alerts and where they go: a JSONL log in the home and a Slack-compatible webhook."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from datacrew_resources.config.alerts import AlertsConfig
from datacrew_resources.config.home import Home
from datacrew_resources.http_post import PostFailed, post_json

from .dedupe import Clock, Deduplicator, utc_now

log = logging.getLogger(__name__)

# The tutorial's four alert types.
AlertKind = Literal["pipeline_failure", "quality_degradation", "sla_breach", "resource_exhaustion"]
Severity = Literal["info", "warning", "error", "critical"]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)
SEVERITIES: tuple[str, ...] = get_args(Severity)


class AlertDeliveryError(Exception):
    """A sink could not deliver an alert; the message is one line and carries no secret."""


@dataclass(frozen=True)
class Alert:
    """One thing someone should look at. `incident_key` names the incident, so repeats can be suppressed.

    `check_name` is the failed check of a quality_degradation, `metric` the breached SLA
    metric of an sla_breach (latency_seconds, throughput_rows_per_second, error_rate).
    """

    kind: AlertKind
    title: str
    severity: Severity = "error"
    asset_key: str | None = None
    job: str | None = None
    run_id: str | None = None
    check_name: str | None = None
    metric: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r} (use {', '.join(ALERT_KINDS)})")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown alert severity {self.severity!r} (use {', '.join(SEVERITIES)})")

    @property
    def incident_key(self) -> str:
        """Stable across runs: the kind, what it is about (asset or job), the check or metric; never the run."""
        subject = f"asset:{self.asset_key}" if self.asset_key else f"job:{self.job or '-'}"
        parts = [self.kind, subject]
        if self.check_name:
            parts.append(f"check:{self.check_name}")
        if self.metric:
            parts.append(f"metric:{self.metric}")
        return "|".join(parts)

    def record(self, at: datetime) -> dict[str, Any]:
        """The JSON object written to the log."""
        return {
            "at": at.isoformat(),
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "asset_key": self.asset_key,
            "job": self.job,
            "run_id": self.run_id,
            "check_name": self.check_name,
            "metric": self.metric,
            "incident_key": self.incident_key,
            "details": self.details,
        }


class JsonlSink:
    """Appends one JSON line per alert and fsyncs, so a crash right after never loses it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, alert: Alert, at: datetime) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(alert.record(at), default=str, sort_keys=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` for notifications, `blocks` for the body."""
    subject = alert.asset_key or alert.job or "-"
    fields = [
        {"type": "mrkdwn", "text": f"*Kind*\n{alert.kind}"},
        {"type": "mrkdwn", "text": f"*Severity*\n{alert.severity}"},
        {"type": "mrkdwn", "text": f"*{'Asset' if alert.asset_key else 'Job'}*\n{subject}"},
    ]
    if alert.check_name:
        fields.append({"type": "mrkdwn", "text": f"*Check*\n{alert.check_name}"})
    if alert.metric:
        fields.append({"type": "mrkdwn", "text": f"*Metric*\n{alert.metric}"})
    if alert.run_id:
        fields.append({"type": "mrkdwn", "text": f"*Run*\n{alert.run_id}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {"type": "section", "fields": fields},
    ]
    if alert.details:
        lines = "\n".join(f"• *{k}*: {json.dumps(v, default=str)}" for k, v in alert.details.items())
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines[:3000]}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"incident `{alert.incident_key}`"}]})
    return {"text": f"[{alert.severity.upper()}] {alert.title}", "blocks": blocks}


class WebhookSink:
    """Posts a Slack-compatible payload with urllib. Errors name only the host: webhook paths are secrets."""

    def __init__(self, url: str, timeout: float = 5) -> None:
        self.url = url
        self.timeout = timeout

    @property
    def where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    def send(self, alert: Alert) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Only reachable through webhook_url_env (datacrew.yaml's webhook_url is validated);
            # the value is not shown: it is a secret.
            raise AlertDeliveryError("alert webhook URL is not http(s)://host/...: alert not posted")
        body = json.dumps(slack_payload(alert), default=str).encode()
        try:
            post_json(self.url, body, where=f"alert webhook {self.where}", timeout=self.timeout)
        except PostFailed as e:
            raise AlertDeliveryError(str(e)) from e


def alerts_log_path(home: Home) -> Path:
    return home.state_dir / "alerts.jsonl"


def alerts_db_path(home: Home) -> Path:
    return home.state_dir / "alerts.sqlite"


def send(alert: Alert, config: AlertsConfig, home: Home, *, clock: Clock = utc_now) -> bool:
    """Deliver the alert unless its incident was alerted within the window: True if sent, False if deduplicated.

    The JSONL record is written before the webhook is tried, so a webhook failure (logged as
    one line, never raised) cannot lose it.
    """
    window = timedelta(minutes=config.dedupe_window_minutes)
    if not Deduplicator(alerts_db_path(home), window, clock).claim(alert.incident_key):
        log.info("alert deduplicated: %s", alert.incident_key)
        return False
    if config.jsonl:
        JsonlSink(alerts_log_path(home)).send(alert, clock())
    url = config.webhook()
    if url:
        try:
            WebhookSink(url, config.webhook_timeout_seconds).send(alert)
        except AlertDeliveryError as e:
            log.warning("%s", e)
    return True
