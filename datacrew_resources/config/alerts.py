"""`datacrew.yaml` `alerts:`: where alerts go and how long one incident stays quiet."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .validators import env_name, http_url


class AlertsConfig(BaseModel):
    """Alert sinks and deduplication. Every alert is appended to `<home>/state/alerts.jsonl` unless `jsonl` is off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jsonl: bool = Field(default=True, description="append every alert to <home>/state/alerts.jsonl")
    webhook_url: str | None = Field(default=None, description="a Slack-compatible incoming webhook")
    webhook_url_env: str | None = Field(
        default=None, description="name of the env var holding the webhook URL (it is a secret)"
    )
    webhook_timeout_seconds: float = Field(default=5, gt=0)
    dedupe_window_minutes: int = Field(
        default=60, ge=0, description="an incident alerted once stays quiet this long (0: never deduplicate)"
    )

    _url = field_validator("webhook_url")(http_url)
    _env = field_validator("webhook_url_env")(env_name)

    def webhook(self) -> str | None:
        """The webhook URL: from the named environment variable when set, else `webhook_url`."""
        if self.webhook_url_env:
            return os.environ.get(self.webhook_url_env) or None
        return self.webhook_url
