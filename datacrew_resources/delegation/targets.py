"""What each task type launches: a Dagster job name and the transformation specs it runs.

Task types come from `datacrew.yaml` `task_types` and, one per scheduled spec, from the
specs' `schedule` (see `spec_schedules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from datacrew_resources.config import ConfigError, LoadedSpec, PlatformConfig

from .spec_schedules import scheduled_specs

# The job every home has: all unpartitioned transformations (built in datacrew_assets.jobs).
TRANSFORM_JOB = "materialize_transformations"
# Jobs built for task types that list assets are named after the task type.
TASK_JOB_PREFIX = "task_"


@dataclass(frozen=True)
class TaskTarget:
    """The job one task type launches and the specs (asset keys) it materializes."""

    task_type: str
    job_name: str
    specs: tuple[LoadedSpec, ...]
    defines_job: bool  # True when the job exists only for this task type
    policy_task_type: str | None = None  # what the rules judge it as, when not `task_type` itself

    @property
    def judged_as(self) -> str:
        """The task type the delegation rules see for this target."""
        return self.policy_task_type or self.task_type

    @property
    def asset_keys(self) -> list[list[str]]:
        return [loaded.spec.asset_key for loaded in self.specs]

    def describe(self) -> str:
        return f"job {self.job_name} ({', '.join(l.spec.key_string for l in self.specs) or 'no assets'})"


def _spec_named(specs: Sequence[LoadedSpec], ref: str, field: str) -> LoadedSpec:
    for loaded in specs:
        if ref in (loaded.spec.name, loaded.spec.key_string):
            if loaded.spec.partitions is not None:
                raise ConfigError("partitioned transformations are launched per partition, not by a task type",
                                  file="datacrew.yaml", field=field, value=ref)
            return loaded
    known = ", ".join(sorted(l.spec.name for l in specs)) or "none"
    raise ConfigError(f"unknown transformation (specs: {known})", file="datacrew.yaml", field=field, value=ref)


def task_targets(config: PlatformConfig, specs: Sequence[LoadedSpec], *,
                 root: Path | None = None) -> dict[str, TaskTarget]:
    """Every configured task type resolved against the specs, and one per scheduled spec; a bad
    reference raises ConfigError (`root`, the home, shortens spec files in its message)."""
    targets = {}
    for task_type, mapping in config.task_types.items():
        field = f"task_types.{task_type}"
        if mapping.job is not None:
            if mapping.job != TRANSFORM_JOB:
                raise ConfigError(f"unknown job (use {TRANSFORM_JOB} or list assets)", file="datacrew.yaml",
                                  field=f"{field}.job", value=mapping.job)
            chosen = tuple(l for l in specs if l.spec.partitions is None)
            targets[task_type] = TaskTarget(task_type, mapping.job, chosen, defines_job=False)
        else:
            chosen = tuple(_spec_named(specs, ref, f"{field}.assets") for ref in mapping.assets)
            targets[task_type] = TaskTarget(task_type, TASK_JOB_PREFIX + task_type, chosen, defines_job=True)
    for scheduled in scheduled_specs(config, specs, root=root):
        targets[scheduled.task_type] = TaskTarget(scheduled.task_type, TASK_JOB_PREFIX + scheduled.task_type,
                                                  (scheduled.loaded,), defines_job=True,
                                                  policy_task_type=scheduled.judged_as)
    return targets


def require_task_type(targets: Mapping[str, TaskTarget], task_type: str) -> TaskTarget:
    if task_type not in targets:
        known = ", ".join(sorted(targets)) or "none configured in datacrew.yaml task_types"
        raise ConfigError(f"unknown task type (known: {known})", field="task_type", value=task_type)
    return targets[task_type]


def touched_classifications(target: TaskTarget, classified: Mapping[str, str]) -> list[str]:
    """Classifications of everything the task reads or writes, for the governance check."""
    keys: Iterable[str] = (key for l in target.specs for key in (l.spec.key_string, *l.spec.sources))
    return sorted({classified.get(key, "internal") for key in keys})
