"""`datacrew.yaml` parts the delegation gate reads: task types, approvers, schedules, gate settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .spec import lower_snake
from .validators import cron


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskTypeConfig(_Strict):
    """What a task type launches: a named job, or the transformation assets listed (names or keys)."""

    job: str | None = None
    assets: list[str] = Field(default_factory=list)
    description: str = ""

    @model_validator(mode="after")
    def _one_target(self) -> TaskTypeConfig:
        if (self.job is None) == (not self.assets):
            raise ValueError("give exactly one of 'job' or 'assets'")
        return self


class ApproverConfig(_Strict):
    """A person who may approve or reject requests whose escalation path names one of `roles`."""

    name: str
    roles: list[str] = Field(min_length=1)

    _roles = field_validator("roles")(lambda roles: [lower_snake(r) for r in roles])


class ScheduleConfig(_Strict):
    """Crew work on a cron: each tick submits a request that the gate judges like any other."""

    name: str
    cron: str
    task_type: str
    requester: str = Field(description="the agent asking for the work")
    agent: str = Field(description="the agent the work is delegated to (who runs the crew)")
    priority: str = "medium"
    facts: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict)
    timezone: str = "UTC"

    _name = field_validator("name")(lower_snake)

    @field_validator("priority")
    @classmethod
    def _known_priority(cls, value: str) -> str:
        names = ("low", "medium", "high", "critical", "emergency")
        if value.strip().lower() not in names:
            raise ValueError(f"unknown priority (use {', '.join(names)})")
        return value.strip().lower()

    _cron = field_validator("cron")(cron)


class GateConfig(_Strict):
    """How the gate sensor works through the queue."""

    control_plane_url: str | None = Field(
        default=None, description="postgresql://... ; unset means SQLite in the home's state directory"
    )
    interval_seconds: int = Field(default=30, ge=1)
    batch_size: int = Field(default=500, ge=1)
    max_runs_per_tick: int = Field(default=1000, ge=1)
