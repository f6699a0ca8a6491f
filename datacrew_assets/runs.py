"""Materialize transformation assets through Dagster into the home's persistent instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from datacrew_resources.config import ConfigError, ConfigErrors, Home
from datacrew_resources.config.spec import find_spec

from .checks import TRANSFORMATION_CHECKS
from .dataset_checks import DATASET_QUALITY_JOB
from .definitions import build_definitions
from .jobs import TRANSFORM_JOB, transformation_selection


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    severity: str
    value: float | None = None
    threshold: float | None = None
    error: str | None = None
    sample_failing_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def blocking_failure(self) -> bool:
        return not self.passed and self.severity == "ERROR"


# The per-asset summary is the CLI's output; step logs stay in the run's event log.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _missing_check(name: str) -> CheckOutcome:
    """A check of a materialized asset that produced no result: its step crashed."""
    return CheckOutcome(name=name, passed=False, severity="ERROR", error="the check did not run to a result")


@dataclass
class AssetOutcome:
    asset_key: str
    status: str  # materialized | failed | skipped
    output_uri: str | None = None
    record_count: int | None = None
    crew_seconds: float | None = None
    tool_seconds: float | None = None
    engine_seconds: float | None = None
    error: str | None = None
    checks: list[CheckOutcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset_key": self.asset_key,
            "status": self.status,
            "output_uri": self.output_uri,
            "record_count": self.record_count,
            "crew_seconds": self.crew_seconds,
            "tool_seconds": self.tool_seconds,
            "engine_seconds": self.engine_seconds,
            "error": self.error,
            "checks": [vars(c) for c in self.checks],
        }


@dataclass
class DatasetOutcome:
    """The checks a run evaluated on one discovered dataset (nothing is materialized for it)."""

    asset_key: str
    checks: list[CheckOutcome]

    def to_dict(self) -> dict[str, Any]:
        return {"asset_key": self.asset_key, "checks": [vars(c) for c in self.checks]}


@dataclass
class RunReport:
    run_id: str
    run_succeeded: bool
    assets: list[AssetOutcome]
    datasets: list[DatasetOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.run_succeeded
            and all(
                a.status == "materialized" and not any(c.blocking_failure for c in a.checks)
                for a in self.assets
            )
            and not any(c.blocking_failure for d in self.datasets for c in d.checks)
        )

    @property
    def failing_checks(self) -> list[tuple[str, CheckOutcome]]:
        """(asset key, check) for every failed check, transformations first, then datasets."""
        return [
            (outcome.asset_key, check)
            for outcome in [*self.assets, *self.datasets]
            for check in outcome.checks
            if not check.passed
        ]


def transformation_keys(home: Home) -> list[dg.AssetKey]:
    """Every unpartitioned transformation: what the transformation job materializes."""
    specs = home.load_specs(home.load_config())
    return [dg.AssetKey(l.spec.asset_key) for l in specs if not l.spec.partitions]


def resolve_selection(home: Home, names: list[str]) -> list[dg.AssetKey]:
    """Map each `NAME` or `layer/name` to its transformation asset key."""
    specs = home.load_specs(home.load_config())
    return [dg.AssetKey(find_spec(specs, name).spec.asset_key) for name in names]


def materialize(
    home: Home, keys: list[dg.AssetKey] | None = None, *, partition_key: str | None = None
) -> RunReport:
    """Materialize `keys` (default: the transformation job's assets) into the home instance.

    Either way the checks of the discovered datasets they read run first (see
    `jobs.transformation_selection`). With `partition_key`, the named (partitioned)
    assets are run for that partition.
    """
    selected = keys or transformation_keys(home)
    defs = build_definitions(home)
    _check_partition(defs, selected, partition_key)
    if keys is None and partition_key is None:
        result = defs.resolve_job_def(TRANSFORM_JOB).execute_in_process(
            instance=dg.DagsterInstance.get(), raise_on_error=False, run_config=QUIET
        )
    else:
        # The inputs' checks come along, so a failing blocking one stops its readers here too.
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=transformation_selection(selected),
            partition_key=partition_key,
            instance=dg.DagsterInstance.get(),
            resources=defs.resources,
            raise_on_error=False,
            run_config=QUIET,
        )
    return RunReport(
        run_id=result.run_id,
        run_succeeded=result.success,
        assets=[_outcome(result, key) for key in selected],
        datasets=_dataset_outcomes(result, selected),
    )


def check_datasets(home: Home) -> RunReport:
    """One pass of the quality monitor: its job, every discovered dataset's checks, into the home instance."""
    result = build_definitions(home).resolve_job_def(DATASET_QUALITY_JOB).execute_in_process(
        instance=dg.DagsterInstance.get(), raise_on_error=False, run_config=QUIET
    )
    return RunReport(
        run_id=result.run_id, run_succeeded=result.success, assets=[], datasets=_dataset_outcomes(result, [])
    )


def _check_partition(defs: dg.Definitions, keys: list[dg.AssetKey], partition_key: str | None) -> None:
    """Partitioned assets need a partition that exists; unpartitioned ones take none."""
    assets = {a.key: a for a in defs.assets if isinstance(a, dg.AssetsDefinition)}
    for key in keys:
        partitions = assets[key].partitions_def
        shown = key.to_user_string()
        if partitions is None and partition_key is not None:
            raise ConfigErrors([ConfigError("is not partitioned: drop --partition", field="asset", value=shown)])
        if partitions is not None and partition_key is None:
            raise ConfigErrors([ConfigError("is partitioned: pass --partition KEY", field="asset", value=shown)])
        if partitions is not None and partition_key not in partitions.get_partition_keys():
            first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
            raise ConfigErrors(
                [ConfigError(f"no such partition of {shown} (from {first} to {last})", field="--partition", value=partition_key)]
            )


def _outcome(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> AssetOutcome:
    shown = key.to_user_string()
    materializations = [
        m for m in result.get_asset_materialization_events() if m.asset_key == key
    ]
    checks = [_check_outcome(e) for e in result.get_asset_check_evaluations() if e.asset_key == key]
    if materializations:
        metadata = materializations[-1].materialization.metadata
        evaluated = {c.name for c in checks}
        checks += [_missing_check(name) for name in TRANSFORMATION_CHECKS if name not in evaluated]
        return AssetOutcome(
            asset_key=shown,
            status="materialized",
            output_uri=_number_or_text(metadata.get("dagster/uri")),
            record_count=_number(metadata.get("dagster/row_count")),
            crew_seconds=_number(metadata.get("datacrew/crew_seconds")),
            tool_seconds=_number(metadata.get("datacrew/tool_seconds")),
            engine_seconds=_number(metadata.get("datacrew/engine_seconds")),
            checks=checks,
        )
    step_key = "__".join(key.path)
    failures = [e for e in result.get_step_failure_events() if e.step_key == step_key]
    if failures:
        return AssetOutcome(asset_key=shown, status="failed", error=_failure_message(failures[0]), checks=checks)
    return AssetOutcome(asset_key=shown, status="skipped", error="not run: an upstream asset failed or a blocking check failed", checks=checks)


def _check_outcome(evaluation: dg.AssetCheckEvaluation) -> CheckOutcome:
    samples = _number(evaluation.metadata.get("sample_failing_rows"))
    value = _number(evaluation.metadata.get("value"))
    return CheckOutcome(
        name=evaluation.check_name,
        passed=evaluation.passed,
        severity=evaluation.severity.value,
        value=value,
        threshold=_number(evaluation.metadata.get("threshold")),
        # A check without a figure could not measure (e.g. an unreadable dataset): its description says why.
        error=evaluation.description if value is None and not evaluation.passed else None,
        sample_failing_rows=list(samples or []),
    )


def _dataset_outcomes(result: dg.ExecuteInProcessResult, selected: list[dg.AssetKey]) -> list[DatasetOutcome]:
    """Checks the run evaluated on assets it did not materialize: the discovered datasets'."""
    by_asset: dict[dg.AssetKey, list[CheckOutcome]] = {}
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.asset_key not in selected:
            by_asset.setdefault(evaluation.asset_key, []).append(_check_outcome(evaluation))
    return [
        DatasetOutcome(asset_key=key.to_user_string(), checks=sorted(checks, key=lambda c: c.name))
        for key, checks in sorted(by_asset.items(), key=lambda item: item[0].to_user_string())
    ]


def _failure_message(event: dg.DagsterEvent) -> str:
    """The `dg.Failure` description when the asset raised one, else the error's first line."""
    data = event.event_specific_data
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    lines = (data.error.message or "failed").strip().splitlines()
    return lines[0]


def _number(value: Any) -> Any:
    return None if value is None else value.value


def _number_or_text(value: Any) -> Any:
    return None if value is None else str(value.value)
