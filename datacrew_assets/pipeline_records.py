"""What a Dagster instance recorded about runs and assets, read through the instance's APIs.

Plain facts for `pipeline_status`: nothing here is estimated. A run's facts come from one
pass over its event records (materializations, check evaluations, step successes and
failures); an asset's latest state from the asset records, its latest observation and the
latest execution of each of its checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (  # the storage's record states
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES as EVALUATED,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

RUN_PAGE = 500
EVENT_PAGE = 1000
RUN_EVENTS = {
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_OBSERVATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}
FINISHED = frozenset({dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED})


def plain(value: Any) -> Any:
    """A metadata value as the figure or JSON it holds (`None` stays `None`)."""
    return getattr(value, "value", value)


def number(metadata: Mapping[str, Any], name: str) -> float | None:
    value = plain(metadata.get(name))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp).astimezone().isoformat()


@dataclass(frozen=True)
class Materialization:
    asset_key: str
    run_id: str
    timestamp: float
    metadata: Mapping[str, Any]

    @classmethod
    def of(cls, entry: dg.EventLogEntry) -> "Materialization":
        event = entry.asset_materialization or entry.asset_observation
        return cls(event.asset_key.to_user_string(), entry.run_id, entry.timestamp, event.metadata)

    def figure(self, name: str) -> float | None:
        return number(self.metadata, name)

    def to_dict(self) -> dict[str, Any]:
        row_count = self.figure("dagster/row_count")
        return {
            "at": iso(self.timestamp),
            "run_id": self.run_id or None,  # a runless observation has no run
            "row_count": None if row_count is None else int(row_count),
        }


@dataclass(frozen=True)
class CheckResult:
    asset_key: str
    name: str
    passed: bool
    severity: str
    value: float | None
    threshold: float | None
    run_id: str
    timestamp: float

    @classmethod
    def of(cls, entry: dg.EventLogEntry) -> "CheckResult":
        evaluation: dg.AssetCheckEvaluation = entry.dagster_event.event_specific_data
        return cls(
            asset_key=evaluation.asset_key.to_user_string(),
            name=evaluation.check_name,
            passed=evaluation.passed,
            severity=evaluation.severity.value,
            value=number(evaluation.metadata, "value"),
            threshold=number(evaluation.metadata, "threshold"),
            run_id=entry.run_id,
            timestamp=entry.timestamp,
        )


@dataclass(frozen=True)
class RunFacts:
    """One run: its record and what its events say per asset step."""

    run_id: str
    job_name: str
    status: str
    start_time: float | None
    end_time: float | None
    materializations: list[Materialization] = field(default_factory=list)
    observations: list[Materialization] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)  # asset key -> seconds of its successful step
    failed_assets: list[str] = field(default_factory=list)  # asset keys whose step failed

    @property
    def finished(self) -> bool:
        return self.status in {s.value for s in FINISHED}

    @property
    def duration(self) -> float | None:
        if not self.finished or self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": iso(self.start_time),
            "ended_at": iso(self.end_time),
            "duration_seconds": self.duration,
        }


def run_records_since(instance: dg.DagsterInstance, since: datetime) -> Iterator[dg.RunRecord]:
    """Every run created at or after `since`, newest first, page by page."""
    cursor = None
    while True:
        page = instance.get_run_records(dg.RunsFilter(created_after=since), limit=RUN_PAGE, cursor=cursor)
        yield from page
        if len(page) < RUN_PAGE:
            return
        cursor = page[-1].dagster_run.run_id


def last_run(instance: dg.DagsterInstance, job_name: str) -> dg.RunRecord | None:
    found = instance.get_run_records(dg.RunsFilter(job_name=job_name), limit=1)
    return found[0] if found else None


def run_facts(instance: dg.DagsterInstance, record: dg.RunRecord, step_assets: Mapping[str, list[str]]) -> RunFacts:
    """The run's materializations, observations, check results and per-asset step outcomes.

    `step_assets` maps an op's step key to the asset keys it produces; a multi-asset
    step's seconds and failures count for each of its assets.
    """
    run = record.dagster_run
    facts = RunFacts(run.run_id, run.job_name, run.status.value, record.start_time, record.end_time)
    for entry in _run_events(instance, run.run_id):
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            facts.materializations.append(Materialization.of(entry))
        elif event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            facts.observations.append(Materialization.of(entry))
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            facts.checks.append(CheckResult.of(entry))
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            for key in step_assets.get(event.step_key, []):
                facts.step_seconds[key] = event.event_specific_data.duration_ms / 1000
        else:
            facts.failed_assets.extend(step_assets.get(event.step_key, []))
    return facts


def _run_events(instance: dg.DagsterInstance, run_id: str) -> Iterator[dg.EventLogEntry]:
    cursor = None
    while True:
        page = instance.get_records_for_run(run_id, cursor=cursor, of_type=RUN_EVENTS, limit=EVENT_PAGE)
        for record in page.records:
            yield record.event_log_entry
        if not page.has_more:
            return
        cursor = page.cursor


@dataclass(frozen=True)
class AssetState:
    """An asset's latest recorded facts."""

    asset_key: str
    materialization: Materialization | None
    observation: Materialization | None
    checks: list[dict[str, Any]]

    @property
    def quality_score(self) -> float | None:
        """`datacrew/quality_score` of the newest materialization or observation that has one."""
        events = sorted((e for e in (self.materialization, self.observation) if e), key=lambda e: e.timestamp, reverse=True)
        return next((e.figure("datacrew/quality_score") for e in events if e.figure("datacrew/quality_score") is not None), None)


def asset_states(
    instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey], check_keys: Iterable[dg.AssetCheckKey]
) -> dict[str, AssetState]:
    """The latest materialization, observation and check executions of each of `keys`."""
    keys = list(keys)
    records = {r.asset_entry.asset_key: r.asset_entry for r in instance.get_asset_records(keys)}
    checks = latest_checks(instance, check_keys)
    states = {}
    for key in keys:
        entry = records.get(key)
        materialized = entry.last_materialization if entry else None
        # SQLite storage does not keep the last observation on the asset record: ask for it
        # (only for assets that have any event at all).
        observed = entry.last_observation if entry else None
        if entry is not None and observed is None:
            found = instance.fetch_observations(key, limit=1).records
            observed = found[0].event_log_entry if found else None
        shown = key.to_user_string()
        states[shown] = AssetState(
            asset_key=shown,
            materialization=Materialization.of(materialized) if materialized else None,
            observation=Materialization.of(observed) if observed else None,
            checks=checks.get(shown, []),
        )
    return states


def latest_checks(instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey]) -> dict[str, list[dict[str, Any]]]:
    """Per asset, each check's latest execution and latest result.

    `status` and `execution_run_id` are the latest execution's (`planned` while it has no
    result: its run is going on, or ended before the check ran); `passed`, `value`,
    `threshold`, `run_id` and `at` are the latest evaluation's, from that run or an
    earlier one. The latest executions come in one batched query through the instance's
    event log storage (the instance's `get_latest_asset_check_evaluation_record` asks the
    same storage one key at a time); only a planned one costs a second look.
    """
    check_keys = list(check_keys)
    storage = instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key(check_keys) if check_keys else {}
    found: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        record = latest.get(key)
        item: dict[str, Any] = {"name": key.name, "status": None, "execution_run_id": None, "passed": None,
                                "severity": None, "value": None, "threshold": None, "run_id": None, "at": None}
        if record is not None:
            item.update(status=record.status.value.lower(), execution_run_id=record.run_id)
            if record.status == AssetCheckExecutionRecordStatus.PLANNED:
                earlier = storage.get_asset_check_execution_history(key, limit=1, status=EVALUATED)
                record = earlier[0] if earlier else None
        if record is not None and record.event is not None:
            result = CheckResult.of(record.event)
            item.update(passed=result.passed, severity=result.severity, value=result.value,
                        threshold=result.threshold, run_id=result.run_id, at=iso(result.timestamp))
        found.setdefault(key.asset_key.to_user_string(), []).append(item)
    return found
