"""Transformation specs with a `schedule`: who asks whom for the run, and as what the rules judge it.

Each scheduled spec gets its own task type, `scheduled_<name>`, whose job materializes
that spec alone; the rules judge a request for it as the schedule's `task_type` (a
rule task type such as `etl_orchestration`). Unset `requester` and `task_type` come
from the first delegation rule (in rule order) that reaches the spec agent's authority
from an authority someone else on the roster holds: the requester is the first such
agent on the roster, the task type the rule's first one. Anything the schedule cannot
use is a ConfigError naming the spec file and field, found when definitions load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from datacrew_resources.config import AgentConfig, ConfigError, LoadedSpec, PlatformConfig
from datacrew_resources.config.spec import SpecSchedule

from .rules import effective_rules

# The task type of a scheduled spec (also a job name part: `task_scheduled_<name>`).
SCHEDULED_TASK_PREFIX = "scheduled_"
# The Dagster schedule of a spec: `<name>_schedule`.
SCHEDULE_SUFFIX = "_schedule"


@dataclass(frozen=True)
class ScheduledSpec:
    """One spec's schedule with its requester and rule task type resolved."""

    loaded: LoadedSpec
    schedule: SpecSchedule
    requester: str
    judged_as: str  # the task type the rules see

    @property
    def name(self) -> str:
        """The Dagster schedule's name."""
        return self.loaded.spec.name + SCHEDULE_SUFFIX

    @property
    def task_type(self) -> str:
        return SCHEDULED_TASK_PREFIX + self.loaded.spec.name

    @property
    def agent(self) -> str:
        return self.loaded.spec.agent


def shown_path(loaded: LoadedSpec, root: Path | None) -> str:
    """The spec file as errors name it: relative to the home when it is inside it."""
    path = loaded.path
    return str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)


def _default_delegation(config: PlatformConfig, agent: AgentConfig, schedule: SpecSchedule) -> tuple[str, str] | None:
    """(requester, task type) from the first rule that reaches `agent` and fits what the schedule set."""
    roster = {a.id: a for a in config.agents}
    asked_by = roster.get(schedule.requester) if schedule.requester else None
    for rule in effective_rules(config):
        if rule.to_authority != agent.authority or (asked_by and rule.from_authority != asked_by.authority):
            continue
        if schedule.task_type and schedule.task_type not in rule.task_types:
            continue
        requesters = [a.id for a in config.agents if a.authority == rule.from_authority and a.id != agent.id]
        if asked_by:
            requesters = [asked_by.id]
        if requesters and rule.task_types:
            return requesters[0], schedule.task_type or rule.task_types[0]
    return None


def _resolve(config: PlatformConfig, loaded: LoadedSpec, file: str) -> ScheduledSpec:
    spec, schedule = loaded.spec, loaded.spec.schedule
    roster = {a.id: a for a in config.agents}
    known = ", ".join(sorted(roster)) or "empty"
    if spec.agent not in roster:
        raise ConfigError(f"unknown agent (roster: {known})", file=file, field="agent", value=spec.agent)
    if schedule.requester is not None and schedule.requester not in roster:
        raise ConfigError(f"unknown agent (roster: {known})", file=file, field="schedule.requester",
                          value=schedule.requester)
    if schedule.requester == spec.agent:
        raise ConfigError("is the spec's agent, which cannot delegate to itself", file=file,
                          field="schedule.requester", value=schedule.requester)
    if spec.partitions is not None:
        raise ConfigError("a partitioned transformation is not scheduled as a whole (launch or backfill its "
                          "partitions from the UI)", file=file, field="schedule")
    if schedule.requester and schedule.task_type:
        return ScheduledSpec(loaded, schedule, schedule.requester, schedule.task_type)
    found = _default_delegation(config, roster[spec.agent], schedule)
    if found is None:
        missing = "schedule.requester" if schedule.requester is None else "schedule.task_type"
        authority = roster[spec.agent].authority.name
        raise ConfigError(f"no delegation rule reaches {spec.agent} ({authority}) that fits this schedule; "
                          "set schedule.requester and schedule.task_type", file=file, field=missing)
    return ScheduledSpec(loaded, schedule, *found)


def scheduled_specs(config: PlatformConfig, specs: Sequence[LoadedSpec], *,
                    root: Path | None = None) -> list[ScheduledSpec]:
    """Every spec with a schedule, resolved; the first problem raises ConfigError (file: the spec)."""
    taken = {s.name: "datacrew.yaml schedules" for s in config.schedules}
    resolved = []
    for loaded in specs:
        if loaded.spec.schedule is None:
            continue
        file = shown_path(loaded, root)
        scheduled = _resolve(config, loaded, file)
        if scheduled.task_type in config.task_types:
            raise ConfigError(f"its task type {scheduled.task_type} is also configured in datacrew.yaml task_types",
                              file=file, field="schedule")
        if scheduled.name in taken:
            raise ConfigError(f"its Dagster schedule {scheduled.name} is also defined by {taken[scheduled.name]}",
                              file=file, field="schedule")
        taken[scheduled.name] = file
        resolved.append(scheduled)
    return resolved


__all__ = ["SCHEDULED_TASK_PREFIX", "SCHEDULE_SUFFIX", "ScheduledSpec", "scheduled_specs", "shown_path"]
