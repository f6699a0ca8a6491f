"""Alert sensors: the tutorial's four alert kinds from Dagster's own run, check and materialization records.

- `alert_on_run_failure` (a run-failure sensor): a failed run is a `resource_exhaustion` alert
  when a step failed on a resource limit (DuckDB memory or temp directory, the crew run's time
  limit), else a `pipeline_failure` alert.
- `alert_on_run_outcomes` pages through finished runs with a cursor and calls
  `alert_run_outcomes` for each: every failed check evaluation is a `quality_degradation`
  alert, every SLA breach a materialization lists in `datacrew/sla_breaches` an `sla_breach`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from datacrew_resources.alerts import Alert, send
from datacrew_resources.config.alerts import AlertsConfig
from datacrew_resources.config.home import Home

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo

RUN_FAILURE_SENSOR = "alert_on_run_failure"
RUN_OUTCOMES_SENSOR = "alert_on_run_outcomes"
SLA_BREACHES = "datacrew/sla_breaches"  # materialization metadata: [{"metric", "value", "limit"}, ...]
# Run outcomes are read per finished run: run status changes are the one cross-run event
# stream every instance storage (run-sharded SQLite included) can page through with a cursor.
FINISHED_RUN_EVENTS = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)
RUN_OUTCOME_EVENTS = {dg.DagsterEventType.ASSET_CHECK_EVALUATION, dg.DagsterEventType.ASSET_MATERIALIZATION}
RUNS_PER_TICK = 100


def _one_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def _plain(value: Any) -> Any:
    """A metadata value as JSON: the figure itself where it is one, else its text."""
    value = getattr(value, "value", value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


# -- failed runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceLimit:
    """A limit a run can exhaust, the setting that sets it, and how its failure reads."""

    resource: str
    setting: str
    outcome: str  # completes "Run of job X ..."
    sign: re.Pattern[str]


# Matched on every message of a step's error chain, in this order: DuckDB raises its
# OutOfMemoryException for both of its limits, and only the temp directory's says it failed to
# offload a block (the line naming max_temp_directory_size is cut when the crew run reports the
# error's first line). The time limit is RunLimits' reason (datacrew_resources/crew/limits.py),
# carried by LimitReached, the CrewRunFailed it causes and the write it interrupts.
RESOURCE_LIMITS = (
    ResourceLimit(
        "temp_directory", "max_temp_directory_size", "filled its temp directory",
        re.compile(r"Out of Memory Error: failed to offload data block|max_temp_directory_size"),
    ),
    ResourceLimit("memory", "memory_limit", "ran out of memory", re.compile(r"Out of Memory Error")),
    ResourceLimit(
        "time", "llm.timeout_seconds", "ran out of time",
        re.compile(r"time limit of \S+ exceeded \(llm\.timeout_seconds\)"),
    ),
)


def _user_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The user's exception under Dagster's wrapper: the innermost cause."""
    while error.cause is not None:
        error = error.cause
    return error


def _error_tree(error: SerializableErrorInfo | None) -> Iterator[SerializableErrorInfo]:
    """The error, what caused it and what it was raised while handling, all the way down."""
    if error is not None:
        yield error
        yield from _error_tree(error.cause)
        yield from _error_tree(error.context)


def exhausted_limit(errors: Iterable[SerializableErrorInfo | None]) -> tuple[ResourceLimit, str] | None:
    """The resource limit the errors report, and what the report says from its sign to the end
    of that line (DuckDB's own words, or the run's time-limit reason); None if none does."""
    messages = [error.message for top in errors for error in _error_tree(top)]
    for limit in RESOURCE_LIMITS:
        for message in messages:
            match = limit.sign.search(message)
            if match:
                return limit, _one_line(message[match.start():])
    return None


def run_failure_alert(context: dg.RunFailureSensorContext) -> Alert:
    run = context.dagster_run
    steps: dict[str, str] = {}
    # The run's own error too: a run can fail outside its steps.
    errors = [getattr(context.failure_event.event_specific_data, "error", None)]
    for event in context.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        errors.append(error)
        steps[event.step_key] = _one_line(_user_error(error).message if error else event.message)
    details: dict[str, Any] = {"message": _one_line(context.failure_event.message), "failed_steps": steps}
    exhausted = exhausted_limit(errors)
    if exhausted is None:
        return Alert(
            kind="pipeline_failure",
            severity="error",
            title=f"Run of job {run.job_name} failed",
            job=run.job_name,
            run_id=run.run_id,
            details=details,
        )
    limit, reported = exhausted
    return Alert(
        kind="resource_exhaustion",
        severity="error",
        title=f"Run of job {run.job_name} {limit.outcome} ({limit.setting})",
        job=run.job_name,
        run_id=run.run_id,
        details={"resource": limit.resource, "setting": limit.setting, "error": reported, **details},
    )


# -- finished runs: failed checks and SLA breaches -------------------------------------------


def check_failure_alert(evaluation: dg.AssetCheckEvaluation, run_id: str | None) -> Alert:
    asset = evaluation.asset_key.to_user_string()
    severity = "warning" if evaluation.severity == dg.AssetCheckSeverity.WARN else "error"
    details: dict[str, Any] = {k: _plain(v) for k, v in evaluation.metadata.items()}
    if evaluation.description:
        details["description"] = evaluation.description
    if evaluation.partition:
        details["partition"] = evaluation.partition
    return Alert(
        kind="quality_degradation",
        severity=severity,
        title=f"Check {evaluation.check_name} failed on {asset}",
        asset_key=asset,
        check_name=evaluation.check_name,
        run_id=run_id,
        details=details,
    )


def sla_breach_alerts(materialization: dg.AssetMaterialization, run_id: str | None) -> list[Alert]:
    """One alert per breach the materialization lists in `datacrew/sla_breaches`."""
    listed = materialization.metadata.get(SLA_BREACHES)
    breaches = _plain(listed) if listed is not None else []
    asset = materialization.asset_key.to_user_string()
    alerts = []
    for breach in breaches:
        metric, value, limit = breach["metric"], breach["value"], breach["limit"]
        side = "above the limit" if value > limit else "below the minimum"
        details: dict[str, Any] = {"value": value, "limit": limit}
        if materialization.partition:
            details["partition"] = materialization.partition
        alerts.append(Alert(
            kind="sla_breach",
            severity="warning",
            title=f"SLA {metric} breached on {asset}: {value:g} {side} {limit:g}",
            asset_key=asset,
            metric=metric,
            run_id=run_id,
            details=details,
        ))
    return alerts


def run_outcome_alerts(instance: dg.DagsterInstance, run_id: str) -> list[Alert]:
    """What one run's records call for: its failed check evaluations and SLA breaches, in event order."""
    alerts: list[Alert] = []
    cursor = None
    while True:
        page = instance.get_records_for_run(run_id, cursor=cursor, of_type=RUN_OUTCOME_EVENTS, limit=500)
        for record in page.records:
            entry = record.event_log_entry
            evaluation = entry.asset_check_evaluation
            if evaluation is not None and not evaluation.passed:
                alerts.append(check_failure_alert(evaluation, entry.run_id))
            materialization = entry.asset_materialization
            if materialization is not None:
                alerts.extend(sla_breach_alerts(materialization, entry.run_id))
        if not page.has_more:
            return alerts
        cursor = page.cursor


def alert_run_outcomes(
    instance: dg.DagsterInstance, run_id: str, *, home: Home, config: AlertsConfig
) -> list[Alert]:
    """Send one finished run's quality_degradation and sla_breach alerts; return those sent.

    An incident alerted within the dedupe window (by this call, an earlier one or the sensor)
    is not sent again and not returned.
    """
    return [alert for alert in run_outcome_alerts(instance, run_id) if send(alert, config, home)]


# -- the sensors -----------------------------------------------------------------------------


def alert_sensors(*, home: Home, config: AlertsConfig) -> list[dg.SensorDefinition]:
    """The two alert sensors for one home; both are on by default."""

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends a resource_exhaustion alert for a run stopped by a resource limit and a "
        "pipeline_failure alert for any other failed run (one per job per dedupe window).",
    )
    def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
        alert = run_failure_alert(context)
        if not send(alert, config, home):
            context.log.info(f"alert deduplicated: {alert.incident_key}")

    @dg.sensor(
        name=RUN_OUTCOMES_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Sends a quality_degradation alert for each failed asset check and an sla_breach "
        "alert for each SLA breach of a finished run (one per incident per dedupe window).",
    )
    def alert_on_run_outcomes(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursors: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        runs = sent = 0
        for status in FINISHED_RUN_EVENTS:
            changes = context.instance.fetch_run_status_changes(
                status, limit=RUNS_PER_TICK, cursor=cursors.get(status.value), ascending=True
            )
            for change in changes.records:
                runs += 1
                sent += len(alert_run_outcomes(context.instance, change.run_id, home=home, config=config))
            if changes.records:
                cursors[status.value] = changes.cursor
        return dg.SensorResult(
            skip_reason=f"{sent} alert(s) sent for {runs} finished run(s)",
            cursor=json.dumps(cursors, sort_keys=True),
        )

    return [alert_on_run_failure, alert_on_run_outcomes]


def alert_definitions(*, home: Home, config: AlertsConfig) -> dg.Definitions:
    return dg.Definitions(sensors=alert_sensors(home=home, config=config))
