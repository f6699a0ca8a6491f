"""`datacrew.yaml` `executor:`: where the steps of datacrew's runs execute."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .validators import env_alternative

BROKER_SCHEMES = ("amqp", "amqps", "pyamqp", "redis", "rediss", "sqs")
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ExecutorConfig(BaseModel):
    """`multiprocess` (the default) is Dagster's own: each step in a child process of the run;
    `in_process` runs every step in the run's process; `celery` sends each step to the Celery
    workers listening on `queue` at `broker` (started with `dagster-celery worker start`);
    `k8s` runs each step in a Kubernetes Job, configured like the instance's K8sRunLauncher
    (docs/deploy-kubernetes.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["multiprocess", "in_process", "celery", "k8s"] = "multiprocess"
    broker: str | None = Field(default=None, description="celery: the broker URL, amqp://host:5672// or redis://host:6379/0")
    broker_env: str | None = Field(
        default=None, description="celery: name of the env var holding the broker URL (when it holds a password)"
    )
    backend: str | None = Field(default=None, description="celery: where step results go back; rpc:// unless set")
    queue: str | None = Field(default=None, description="celery: the queue steps are sent to; dagster unless set")

    @field_validator("broker", "broker_env", "backend", "queue")
    @classmethod
    def _celery_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Field by field, not one model check: an error then names its field and shows only its value.
        if value is not None and info.data.get("kind", "celery") != "celery":
            raise ValueError("only applies to kind 'celery'")
        return value

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in BROKER_SCHEMES:
            raise ValueError(f"must be a broker URL ({', '.join(s + '://' for s in BROKER_SCHEMES)})")
        return value

    _one_broker = field_validator("broker_env")(env_alternative("broker"))

    @field_validator("backend")
    @classmethod
    def _backend_url(cls, value: str | None) -> str | None:
        if value is not None and not urlsplit(value).scheme:
            raise ValueError("must be a result backend URL such as rpc:// or redis://host:6379/1")
        return value

    @field_validator("queue")
    @classmethod
    def _queue_name(cls, value: str | None) -> str | None:
        if value is not None and not QUEUE_NAME.fullmatch(value):
            raise ValueError("must be a queue name (letters, digits, '_', '.', '-')")
        return value

    @model_validator(mode="after")
    def _celery_needs_a_broker(self) -> "ExecutorConfig":
        if self.kind == "celery" and self.broker is None and self.broker_env is None:
            raise ValueError("kind 'celery' needs broker or broker_env")
        return self
