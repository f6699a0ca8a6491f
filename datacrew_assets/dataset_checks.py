"""Quality checks of discovered datasets, the quality monitor, and their freshness checks.

Every discovered dataset gets the checks that can fail for it (`quality.dataset`):
schema_conformity (always blocking), completeness and row_count_anomaly always,
consistency when `datasets:` in datacrew.yaml gives it a primary key or a reference,
accuracy when it gives a value rule (blocking when `datasets:` lists them, warnings
otherwise). Each evaluation also logs
an `AssetObservation` of the dataset: its row count, quality score and figures, and
`dagster/last_updated_timestamp` (the data's modification time), which the row-count
history and Dagster's freshness checks read.

How checks are grouped into ops, and why:
- Dagster blocks downstream steps per *step*: a failed blocking check fails its whole
  op, and every step fed by that op is skipped. So each dataset a transformation reads
  has an op of its own, and a broken input stops only the transformations reading it.
- The other datasets share ops of `BATCH_SIZE`. Not one op for all: Dagster's job
  builder relates each checked asset to every check key of its op (asset_job.py
  `build_node_deps`), quadratic in the op's size: 5,000 datasets in one op took 29-40 s
  to load here, in ops of 100 about 2 s.
"""


from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
import duckdb

from datacrew_resources.catalog.models import DatasetRecord
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, LoadedSpec, PlatformConfig
from datacrew_resources.config.datasets import DatasetSettings, dataset_settings
from datacrew_resources.engine import SourceRef
from datacrew_resources.quality.dataset import (
    ACCURACY,
    COMPLETENESS,
    CONSISTENCY,
    DATASET_CHECKS,
    ROW_COUNT_ANOMALY,
    SCHEMA_CONFORMITY,
    CheckOutcome,
    DatasetAssessment,
    assess_dataset,
    declared_checks,
)
from datacrew_resources.quality.relations import pick_refs
from datacrew_resources.resources import PlatformResource
from datacrew_resources.s3_copies import with_s3_copies
from datacrew_resources.source_refs import record_source, source_refs

BATCH_SIZE = 100
DATASET_QUALITY_JOB = "dataset_quality_checks"
MONITOR_SCHEDULE = "quality_monitor"
FRESHNESS_SENSOR = "dataset_freshness_sensor"
# The tutorial's background monitor: every 5 minutes, one retry a minute later on errors.
RETRY = dg.RetryPolicy(max_retries=1, delay=60)

DESCRIPTIONS = {
    SCHEMA_CONFORMITY: "Columns and DuckDB types now against the catalog's record (always blocking)",
    COMPLETENESS: "Share of non-null cells over the required columns",
    CONSISTENCY: "The lower of primary-key uniqueness and referential integrity",
    ACCURACY: "Share of rows meeting every declared value rule",
    ROW_COUNT_ANOMALY: "Row count against the median of earlier observations (robust z, median/MAD)",
}


def dataset_check_specs(key: list[str], settings: DatasetSettings) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name=name, asset=dg.AssetKey(key), description=DESCRIPTIONS[name],
                          blocking=name in settings.blocking)
        for name in declared_checks(settings)
    ]


def read_by_transformations(specs: list[LoadedSpec]) -> set[str]:
    return {source for loaded in specs for source in loaded.spec.sources}


def check_batches(records: list[DatasetRecord], read: set[str]) -> list[tuple[str, list[DatasetRecord]]]:
    """(op name, records) for every op: one per dataset a transformation reads, batches for the rest."""
    ordered = sorted(records, key=lambda r: r.key_string)
    own = [(f"dataset_checks__{r.source}__{r.dataset_name}", [r]) for r in ordered if r.key_string in read]
    rest = [r for r in ordered if r.key_string not in read]
    batches = [(f"dataset_checks__batch_{i // BATCH_SIZE}", rest[i:i + BATCH_SIZE])
               for i in range(0, len(rest), BATCH_SIZE)]
    return own + batches


def build_dataset_checks(
    *, name: str, records: list[DatasetRecord], settings: Mapping[str, DatasetSettings]
) -> dg.AssetChecksDefinition:
    """One op evaluating the checks of `records`, each dataset from one scan.

    Its function has no return annotation: Dagster would resolve one as the type of each
    of the op's outputs (five per dataset), a measurable share of the load time.
    """

    @dg.multi_asset_check(
        name=name,
        specs=[spec for r in records for spec in dataset_check_specs(r.asset_key, settings[r.key_string])],
        can_subset=True,
        retry_policy=RETRY,
        description=f"Quality checks of {len(records)} discovered dataset(s), one scan each",
    )
    def _checks(context: dg.AssetCheckExecutionContext, platform: PlatformResource):
        selected: dict[dg.AssetKey, list[str]] = defaultdict(list)
        for check_key in context.selected_asset_check_keys:
            selected[check_key.asset_key].append(check_key.name)
        home = platform.home()
        store = CatalogStore.for_home(home)
        readable = _Readable(platform)
        with platform.duckdb_connection() as connection:
            for asset_key in sorted(selected, key=lambda k: k.to_user_string()):
                key = asset_key.to_user_string()
                names = [n for n in DATASET_CHECKS if n in selected[asset_key]]
                assessment = _assess(context, connection, store, readable, key, settings[key], names)
                context.log.info("%s: %d check(s) in %.3fs", key, len(names), assessment.seconds)
                if assessment.last_updated is not None:
                    yield observation(asset_key, assessment)
                for outcome in assessment.checks.values():
                    yield check_result(asset_key, outcome, settings[key], scannable=assessment.scannable)

    return _checks


class _Readable:
    """Every readable key's `SourceRef`, read once per run and only if a reference needs it;
    `s3://` datasets are read through fresh local copies (`s3_copies`)."""

    def __init__(self, platform: PlatformResource):
        self._platform = platform
        self._refs: dict[str, SourceRef] | None = None

    def refs(self, keys: set[str]) -> dict[str, SourceRef]:
        if not keys:
            return {}
        home = self._platform.home()
        if self._refs is None:
            self._refs = source_refs(home, home.load_specs(self._platform.config()))
        return with_s3_copies(home, self._platform.config(), pick_refs(self._refs, keys), keys)

    def record(self, record: DatasetRecord) -> DatasetRecord:
        """`record`, pointing at its local copy when it is an `s3://` dataset."""
        if not record.location.startswith("s3://"):
            return record
        key = record.key_string
        copied = with_s3_copies(self._platform.home(), self._platform.config(), {key: record_source(record)}, [key])
        return record.model_copy(update={"location": copied[key].location})


def _assess(
    context: dg.AssetCheckExecutionContext,
    connection: duckdb.DuckDBPyConnection,
    store: CatalogStore,
    readable: _Readable,
    key: str,
    settings: DatasetSettings,
    names: list[str],
) -> DatasetAssessment:
    record = store.get(key)
    if record is None:
        return _failed(key, names, f"{key} is no longer in the catalog (run `datacrew discover`)")
    try:
        record = readable.record(record)
    except ConfigError as e:
        return _failed(key, names, str(e))
    try:
        references = readable.refs(settings.referenced_keys)
    except ConfigError as e:
        return _failed(key, names, f"datacrew.yaml datasets.{key}: {e}")
    history = row_count_history(context.instance, dg.AssetKey(record.asset_key), settings.row_count_anomaly.window) \
        if ROW_COUNT_ANOMALY in names else []
    return assess_dataset(connection, record, settings, references=references, history=history, checks=names)


def _failed(key: str, names: list[str], problem: str) -> DatasetAssessment:
    return DatasetAssessment(key, {n: CheckOutcome(n, False, problem) for n in names})


def row_count_history(instance: dg.DagsterInstance, key: dg.AssetKey, window: int) -> list[int]:
    """`dagster/row_count` of the dataset's last `window` observations that carry one."""
    records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=key), limit=window).records
    counts = [r.asset_observation.metadata.get("dagster/row_count") for r in records]
    return [int(c.value) for c in counts if c is not None]


def observation(asset_key: dg.AssetKey, assessment: DatasetAssessment) -> dg.AssetObservation:
    metadata: dict[str, Any] = {
        "dagster/last_updated_timestamp": dg.TimestampMetadataValue(assessment.last_updated),
    }
    if assessment.metrics is not None:
        metrics = assessment.metrics
        metadata.update({
            "dagster/row_count": dg.IntMetadataValue(metrics.row_count),
            "datacrew/quality_score": dg.FloatMetadataValue(assessment.quality_score),
            "datacrew/completeness": dg.FloatMetadataValue(round(metrics.completeness, 6)),
            "datacrew/consistency": dg.FloatMetadataValue(round(metrics.consistency, 6)),
            "datacrew/accuracy": dg.FloatMetadataValue(round(metrics.accuracy, 6)),
        })
    return dg.AssetObservation(asset_key=asset_key, metadata=metadata)


def check_result(
    asset_key: dg.AssetKey, outcome: CheckOutcome, settings: DatasetSettings, *, scannable: bool = True
) -> dg.AssetCheckResult:
    """A blocking check fails with ERROR (and stops downstream steps), the others with WARN;
    a dataset of a kind that cannot be scanned only warns."""
    blocking = outcome.name in settings.blocking and scannable
    metadata: dict[str, Any] = {}
    if outcome.value is not None:
        metadata["value"] = dg.FloatMetadataValue(outcome.value)
    threshold = outcome.threshold if outcome.threshold is not None else settings.threshold(outcome.name)
    metadata["threshold"] = dg.FloatMetadataValue(float(threshold))
    for name, value in outcome.metadata.items():
        metadata[name] = dg.JsonMetadataValue(value) if isinstance(value, (dict, list)) else value
    if not outcome.passed and outcome.samples:
        metadata["sample_failing_rows"] = dg.JsonMetadataValue(outcome.samples)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata=metadata,
    )


def freshness_checks(settings: Mapping[str, DatasetSettings]) -> list[dg.AssetChecksDefinition]:
    """Dagster's last-update checks (named `freshness_check`), one definition per distinct SLA."""
    by_hours: dict[float, list[dg.AssetKey]] = defaultdict(list)
    for key, resolved in sorted(settings.items()):
        if resolved.freshness_hours is not None:
            by_hours[resolved.freshness_hours].append(dg.AssetKey(key.split("/")))
    return [
        check
        for hours, keys in sorted(by_hours.items())
        for check in dg.build_last_update_freshness_checks(assets=keys, lower_bound_delta=timedelta(hours=hours))
    ]


def dataset_check_definitions(
    *, records: list[DatasetRecord], config: PlatformConfig, specs: list[LoadedSpec]
) -> dg.Definitions:
    """The checks of every discovered dataset, the `dataset_quality_checks` job and its
    `quality_monitor` schedule, and the freshness checks with `dataset_freshness_sensor`."""
    if not records:
        return dg.Definitions()
    settings = {r.key_string: dataset_settings(config.datasets, config.quality, r.key_string) for r in records}
    checks = [
        build_dataset_checks(name=name, records=batch, settings=settings)
        for name, batch in check_batches(records, read_by_transformations(specs))
    ]
    job = dg.define_asset_job(
        DATASET_QUALITY_JOB,
        selection=dg.AssetSelection.checks(*checks),
        description="Every discovered dataset's quality checks (the quality monitor's job)",
        # One process for every batch: a step per process would load the code location per batch.
        executor_def=dg.in_process_executor,
    )
    monitor = dg.ScheduleDefinition(
        name=MONITOR_SCHEDULE,
        job=job,
        cron_schedule=config.datasets.monitor_cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The background quality monitor: every discovered dataset's checks",
    )
    fresh = freshness_checks(settings)
    sensors = [
        dg.build_sensor_for_freshness_checks(
            freshness_checks=fresh, name=FRESHNESS_SENSOR, default_status=dg.DefaultSensorStatus.RUNNING
        )
    ] if fresh else []
    return dg.Definitions(asset_checks=[*checks, *fresh], jobs=[job], schedules=[monitor], sensors=sensors)
