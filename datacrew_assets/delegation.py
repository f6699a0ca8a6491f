"""Delegation in Dagster: task-type jobs, the gate sensor, the workload ledger and policy-checked schedules.

The gate sensor is the only thing that launches delegated crew work (the
architecture's invariant 1): schedules, those of `datacrew.yaml` and those of
transformation specs alike, submit requests and leave the launch to it, so every
run has a policy decision in the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from datacrew_resources.delegation.gate import RunInfo, gate_tick
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.delegation.spec_schedules import ScheduledSpec
from datacrew_resources.delegation.store import FAILED, LAUNCHED, RUNNING, SUCCEEDED
from datacrew_resources.delegation.targets import TaskTarget

from .jobs import transformation_selection

GATE_SENSOR = "delegation_gate"
REQUEST_TAG = "datacrew/request"
RUN_KEY_TAG = "dagster/run_key"
# Runs looked up per instance query during reconciliation.
_LOOKUP_CHUNK = 500


def task_type_jobs(targets: Mapping[str, TaskTarget]) -> list[dg.UnresolvedAssetJobDefinition]:
    """A job for each task type that lists its own assets (others reuse an existing job): those
    transformations and their checks, after the checks of the discovered datasets they read."""
    return [
        dg.define_asset_job(
            target.job_name,
            selection=transformation_selection([dg.AssetKey(k) for k in target.asset_keys]),
            description=f"Delegated task type {target.task_type}: {target.describe()}",
        )
        for target in targets.values() if target.defines_job
    ]


def instance_runs(instance: dg.DagsterInstance):
    """A RunLookup over the instance: every run tagged with each request id."""

    def lookup(request_ids: Sequence[str]) -> dict[str, list[RunInfo]]:
        found: dict[str, list[RunInfo]] = {}
        for start in range(0, len(request_ids), _LOOKUP_CHUNK):
            chunk = list(request_ids[start:start + _LOOKUP_CHUNK])
            for run in instance.get_runs(filters=dg.RunsFilter(tags={REQUEST_TAG: chunk})):
                info = RunInfo(run.run_id, run.status.value, run.tags.get(RUN_KEY_TAG))
                found.setdefault(run.tags[REQUEST_TAG], []).append(info)
        return found

    return lookup


def gate_sensor(delegation: Delegation, jobs: Sequence[dg.UnresolvedAssetJobDefinition],
                interval_seconds: int) -> dg.SensorDefinition:
    """Each tick: reconcile the ledger with the instance, then judge the queue and launch.

    It judges with the config the definitions were loaded from, so the task types it
    resolves are exactly the jobs it targets; a changed datacrew.yaml takes effect when
    the code location reloads.
    """
    job_names = frozenset(job.name for job in jobs)

    @dg.sensor(
        name=GATE_SENSOR,
        jobs=list(jobs) or None,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Judges delegation requests against the rules and launches the allowed ones",
    )
    def _gate(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        outcome = gate_tick(delegation, cursor=context.cursor or None, runs=instance_runs(context.instance),
                            jobs=job_names)
        for line in outcome.log:
            context.log.info(line)
        context.log.info(outcome.summary())
        requests = [dg.RunRequest(run_key=l.request.id, job_name=l.job_name, tags=l.tags) for l in outcome.launches]
        return dg.SensorResult(
            run_requests=requests,
            cursor=outcome.cursor or "",
            skip_reason=None if requests else dg.SkipReason(outcome.summary()),
        )

    return _gate


def ledger_sensor(delegation: Delegation, status: dg.DagsterRunStatus, to_state: str) -> dg.SensorDefinition:
    """Moves a delegated run's request when the run reaches `status` (the gate reconciles misses)."""

    @dg.run_status_sensor(
        run_status=status,
        name=f"delegation_ledger_{status.value.lower()}",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Marks delegation requests {to_state} when their run is {status.value}",
    )
    def _ledger(context: dg.RunStatusSensorContext) -> None:
        run = context.dagster_run
        request_id = run.tags.get(REQUEST_TAG)
        if not request_id:
            return
        store = delegation.store
        request = store.get(request_id)
        if request is None or request.state not in (LAUNCHED, RUNNING) or request.state == to_state:
            return
        # Only the request's own run moves it: the one bound to it, or the gate's run for its key.
        bound = request.run_id == run.run_id if request.run_id else run.tags.get(RUN_KEY_TAG) == request_id
        if not bound:
            return
        decision = {"status": to_state, "reasons": [f"run {context.dagster_run.run_id} is {status.value}"],
                    "rule": None}
        if store.transition(request_id, to_state, expected_from=request.state, decision=decision,
                            actor="ledger", run_id=context.dagster_run.run_id):
            context.log.info(f"{request_id}: {to_state} (run {context.dagster_run.run_id})")

    return _ledger


_LEDGER = (
    (dg.DagsterRunStatus.STARTED, RUNNING),
    (dg.DagsterRunStatus.SUCCESS, SUCCEEDED),
    (dg.DagsterRunStatus.FAILURE, FAILED),
    (dg.DagsterRunStatus.CANCELED, FAILED),
)


def submitting_schedule(*, name: str, cron: str, timezone: str, job_name: str, description: str,
                        delegation: Delegation, request: Mapping[str, Any]) -> dg.ScheduleDefinition:
    """A cron that submits one request per tick (idempotent per scheduled time) for the gate.

    It never returns a run request: the gate judges the request and launches it (invariant 1).
    `job_name` is the job the gate will launch, so the UI shows what the schedule leads to.
    """

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone=timezone,
        job_name=job_name,
        # Running from the start: a tick only queues a request, which the rules still judge.
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.SkipReason:
        when = context.scheduled_execution_time.isoformat()
        submitted = delegation.submit(**request, origin_key=f"schedule:{name}:{when}")
        return dg.SkipReason(f"submitted request {submitted.id} ({submitted.state}); {GATE_SENSOR} launches it")

    return _schedule


def policy_schedule(index: int, delegation: Delegation) -> dg.ScheduleDefinition:
    """A `datacrew.yaml` schedule: its task type from its requester to its agent."""
    config = delegation.config.schedules[index]
    return submitting_schedule(
        name=config.name, cron=config.cron, timezone=config.timezone,
        job_name=delegation.targets[config.task_type].job_name,
        description=(f"Submits {config.task_type} from {config.requester} to {config.agent}; "
                     "the delegation gate decides and launches"),
        delegation=delegation,
        request=dict(requester=config.requester, target=config.agent, task_type=config.task_type,
                     priority=config.priority, facts=config.facts, resources=config.resources),
    )


def spec_schedule(scheduled: ScheduledSpec, delegation: Delegation) -> dg.ScheduleDefinition:
    """A transformation spec's schedule: a request for that spec alone, to the spec's agent."""
    schedule, spec = scheduled.schedule, scheduled.loaded.spec
    return submitting_schedule(
        name=scheduled.name, cron=schedule.cron, timezone=schedule.timezone,
        job_name=delegation.targets[scheduled.task_type].job_name,
        description=(f"Submits {scheduled.task_type} ({spec.key_string}, judged as {scheduled.judged_as}) from "
                     f"{scheduled.requester} to {scheduled.agent}; the delegation gate decides and launches"),
        delegation=delegation,
        request=dict(requester=scheduled.requester, target=scheduled.agent, task_type=scheduled.task_type,
                     priority=schedule.priority, facts=schedule.facts, resources=schedule.resources),
    )


def delegation_definitions(delegation: Delegation,
                           shared_jobs: Mapping[str, dg.UnresolvedAssetJobDefinition]) -> dg.Definitions:
    """Jobs, sensors and schedules of the delegation gate for one home; `shared_jobs` are
    jobs defined elsewhere that task types may name (they are not redefined here)."""
    jobs = task_type_jobs(delegation.targets)
    launched = {t.job_name for t in delegation.targets.values()}
    targets = [*jobs, *(job for name, job in shared_jobs.items() if name in launched)]
    sensors = [gate_sensor(delegation, targets, delegation.config.gate.interval_seconds)]
    sensors += [ledger_sensor(delegation, status, state) for status, state in _LEDGER]
    schedules = [policy_schedule(i, delegation) for i in range(len(delegation.config.schedules))]
    schedules += [spec_schedule(scheduled, delegation) for scheduled in delegation.spec_schedules]
    return dg.Definitions(jobs=jobs, sensors=sensors, schedules=schedules)
