"""Alerts: the tutorial's four alert types, sent to a JSONL log and a webhook, one per incident per window."""

from .dedupe import Deduplicator
from .sinks import (
    ALERT_KINDS,
    Alert,
    AlertDeliveryError,
    AlertKind,
    JsonlSink,
    WebhookSink,
    alerts_db_path,
    alerts_log_path,
    send,
    slack_payload,
)

__all__ = [
    "ALERT_KINDS",
    "Alert",
    "AlertDeliveryError",
    "AlertKind",
    "Deduplicator",
    "JsonlSink",
    "WebhookSink",
    "alerts_db_path",
    "alerts_log_path",
    "send",
    "slack_payload",
]
