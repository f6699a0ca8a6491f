"""Alert sensors: a failed run becomes a pipeline_failure alert, a failed asset check a quality_degradation alert."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import dagster as dg

from datacrew_resources.alerts import Alert, send
from datacrew_resources.config.alerts import AlertsConfig
from datacrew_resources.config.home import Home

RUN_FAILURE_SENSOR = "alert_on_run_failure"
CHECK_FAILURE_SENSOR = "alert_on_check_failure"
# Check evaluations are read per finished run: run status changes are the one cross-run event
# stream every instance storage (run-sharded SQLite included) can page through with a cursor.
FINISHED_RUN_EVENTS = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)
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


def run_failure_alert(context: dg.RunFailureSensorContext) -> Alert:
    run = context.dagster_run
    steps = {}
    for event in context.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        while error is not None and error.cause is not None:  # the user's exception, not Dagster's wrapper
            error = error.cause
        steps[event.step_key] = _one_line(error.message if error else event.message)
    return Alert(
        kind="pipeline_failure",
        severity="error",
        title=f"Run of job {run.job_name} failed",
        job=run.job_name,
        run_id=run.run_id,
        details={"message": _one_line(context.failure_event.message), "failed_steps": steps},
    )


def _failed_check_evaluations(
    instance: dg.DagsterInstance, run_id: str
) -> Iterator[tuple[dg.AssetCheckEvaluation, str]]:
    cursor = None
    while True:
        page = instance.get_records_for_run(
            run_id, cursor=cursor, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=500
        )
        for record in page.records:
            event = record.event_log_entry.dagster_event
            evaluation = event.event_specific_data if event else None
            if isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed:
                yield evaluation, record.event_log_entry.run_id
        if not page.has_more:
            return
        cursor = page.cursor


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


def alert_sensors(*, home: Home, config: AlertsConfig) -> list[dg.SensorDefinition]:
    """The two alert sensors for one home; both are on by default."""

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends a pipeline_failure alert for each failed run (one per job per dedupe window).",
    )
    def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
        alert = run_failure_alert(context)
        if not send(alert, config, home):
            context.log.info(f"alert deduplicated: {alert.incident_key}")

    @dg.sensor(
        name=CHECK_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=60,
        description="Sends a quality_degradation alert for each failed asset check (one per check per dedupe window).",
    )
    def alert_on_check_failure(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursors: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        runs = sent = deduplicated = 0
        for status in FINISHED_RUN_EVENTS:
            changes = context.instance.fetch_run_status_changes(
                status, limit=RUNS_PER_TICK, cursor=cursors.get(status.value), ascending=True
            )
            for change in changes.records:
                runs += 1
                for evaluation, run_id in _failed_check_evaluations(context.instance, change.run_id):
                    if send(check_failure_alert(evaluation, run_id), config, home):
                        sent += 1
                    else:
                        deduplicated += 1
            if changes.records:
                cursors[status.value] = changes.cursor
        return dg.SensorResult(
            skip_reason=f"{sent} alert(s) sent, {deduplicated} deduplicated, {runs} finished run(s) read",
            cursor=json.dumps(cursors, sort_keys=True),
        )

    return [alert_on_run_failure, alert_on_check_failure]


def alert_definitions(*, home: Home, config: AlertsConfig) -> dg.Definitions:
    return dg.Definitions(sensors=alert_sensors(home=home, config=config))
