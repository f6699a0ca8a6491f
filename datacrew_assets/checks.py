"""The checks of a transformation, evaluated inside its materialization from one measurement.

Completeness, consistency and accuracy come from one SQL pass over the output
(`quality.measure`); schema conformity reads only its structure (footer, DESCRIBE,
header); the row-count anomaly compares the row count with the asset's own earlier
materializations in the Dagster instance. Sample rows are read only when a figure fails.

What is measured: the whole output, every partition of a partitioned asset, since key
uniqueness and references are properties of the asset, not of a slice (each partition
file's structure is checked apart). The row-count anomaly alone judges the materialized
partition, against earlier materializations of that same partition.

Schema conformity always blocks downstream assets when it fails; the other checks block
when the spec lists them in `quality.blocking`, and warn otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from datacrew_resources.config import QualityDefaults, TransformationSpec
from datacrew_resources.quality import QUALITY_CHECKS, QualityMetrics, measure, row_count_anomaly, sample_failures, thresholds
from datacrew_resources.quality.anomaly import AnomalyVerdict
from datacrew_resources.quality.conformity import Conformity, schema_conformity
from datacrew_resources.quality.thresholds import anomaly_settings
from datacrew_resources.resources import OpenedOutput, PlatformResource

COMPLETENESS, CONSISTENCY, ACCURACY = QUALITY_CHECKS
SCHEMA_CONFORMITY = "schema_conformity"
ROW_COUNT_ANOMALY = "row_count_anomaly"
TRANSFORMATION_CHECKS = (COMPLETENESS, CONSISTENCY, ACCURACY, SCHEMA_CONFORMITY, ROW_COUNT_ANOMALY)

_DESCRIPTIONS = {
    COMPLETENESS: "Share of non-null cells over the target schema's columns",
    CONSISTENCY: "The lower of key uniqueness (distinct present primary keys over rows) and "
    "referential integrity (rows without a value missing from the referenced column)",
    ACCURACY: "Share of rows meeting every declared value constraint",
    SCHEMA_CONFORMITY: "The output's columns and DuckDB types against target_schema (always blocking)",
    ROW_COUNT_ANOMALY: "Row count against the median of earlier materializations (robust z, median/MAD)",
}


def blocking_checks(spec: TransformationSpec) -> set[str]:
    return {SCHEMA_CONFORMITY, *spec.quality.blocking}


def transformation_check_specs(spec: TransformationSpec) -> list[dg.AssetCheckSpec]:
    blocking = blocking_checks(spec)
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=dg.AssetKey(spec.asset_key),
            description=_DESCRIPTIONS[name],
            blocking=name in blocking,
        )
        for name in TRANSFORMATION_CHECKS
    ]


@dataclass(frozen=True)
class CheckedOutput:
    metrics: QualityMetrics
    results: list[dg.AssetCheckResult]


def evaluate_checks(
    *,
    spec: TransformationSpec,
    defaults: QualityDefaults,
    output: OpenedOutput,
    rows: int,
    history: list[int],
) -> CheckedOutput:
    """Every check of `spec` over its `output`; `rows` (this materialization's) is judged
    against `history`, the row counts of earlier ones."""
    limits = thresholds(spec, defaults)
    references = output.references
    metrics = measure(output.connection, spec.target_schema, output.table, reference_tables=references)
    figures = _figures(metrics)
    failing = [name for name, (value, _) in figures.items() if value < limits[name]]
    samples = (
        sample_failures(output.connection, spec.target_schema, output.table, reference_tables=references, checks=failing)
        if failing
        else {}
    )
    conformity = schema_conformity(output.connection, output.parts, spec.target_schema)
    settings = anomaly_settings(spec, defaults)
    verdict = row_count_anomaly(rows, history, min_history=settings.min_history, max_z=settings.max_z)
    blocking = blocking_checks(spec)

    def severity(name: str) -> dg.AssetCheckSeverity:
        return dg.AssetCheckSeverity.ERROR if name in blocking else dg.AssetCheckSeverity.WARN

    results = [
        _figure_result(name, value, limits[name], metrics.row_count, counts, samples.get(name), severity(name))
        for name, (value, counts) in figures.items()
    ]
    results.append(_conformity_result(conformity, metrics.row_count, severity(SCHEMA_CONFORMITY)))
    results.append(_anomaly_result(verdict, settings.min_history, severity(ROW_COUNT_ANOMALY)))
    return CheckedOutput(metrics, results)


def check_materialization(
    context: dg.AssetExecutionContext,
    platform: PlatformResource,
    *,
    spec: TransformationSpec,
    defaults: QualityDefaults,
    rows: int,
    partition_key: str | None,
) -> CheckedOutput:
    """The checks of the materialization under way, over the output the crew just wrote."""
    window = anomaly_settings(spec, defaults).window
    # Earlier materializations only: this one is recorded when the asset body returns.
    history = row_count_history(context.instance, context.asset_key, partition_key, window)
    with platform.transformation_output(spec) as output:
        if output is None:
            raise dg.Failure(description=f"{spec.key_string}: the crew run left no output to check")
        return evaluate_checks(spec=spec, defaults=defaults, output=output, rows=rows, history=history)


def row_count_history(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition_key: str | None, window: int
) -> list[int]:
    """`dagster/row_count` of the asset's (or the partition's) last `window` materializations."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition_key] if partition_key else None),
        limit=window,
    ).records
    counts = [r.asset_materialization.metadata.get("dagster/row_count") for r in records]
    return [int(c.value) for c in counts if c is not None]


def _figures(metrics: QualityMetrics) -> dict[str, tuple[float, dict]]:
    return {
        COMPLETENESS: (
            metrics.completeness,
            {"null_cells": metrics.null_cells, "cells": metrics.cell_count},
        ),
        CONSISTENCY: (
            metrics.consistency,
            {
                "duplicate_or_missing_key_rows": metrics.duplicate_key_rows,
                "key_uniqueness": dg.FloatMetadataValue(round(metrics.key_uniqueness, 6)),
                "orphan_rows": metrics.orphan_rows,
                "referential_integrity": dg.FloatMetadataValue(round(metrics.referential_integrity, 6)),
                "orphans_by_column": dg.JsonMetadataValue(metrics.orphans),
            },
        ),
        ACCURACY: (
            metrics.accuracy,
            {
                "failing_rows": metrics.inaccurate_rows,
                "violations_by_column": dg.JsonMetadataValue(metrics.constraint_violations),
            },
        ),
    }


def _figure_result(
    name: str,
    value: float,
    threshold: float,
    row_count: int,
    counts: dict,
    samples: list[dict] | None,
    severity: dg.AssetCheckSeverity,
) -> dg.AssetCheckResult:
    metadata = {
        "value": dg.FloatMetadataValue(round(value, 6)),
        "threshold": dg.FloatMetadataValue(threshold),
        "row_count": row_count,
        **counts,
    }
    if samples:
        metadata["sample_failing_rows"] = dg.JsonMetadataValue(samples)
    return dg.AssetCheckResult(
        check_name=name,
        passed=value >= threshold,
        severity=severity,
        metadata=metadata,
        description=f"{name} {value:.4f} against threshold {threshold}",
    )


def _conformity_result(conformity: Conformity, row_count: int, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    metadata = {
        "value": dg.FloatMetadataValue(conformity.value),
        "threshold": dg.FloatMetadataValue(1.0),
        "row_count": row_count,
        "missing_columns": conformity.count("missing_column"),
        "extra_columns": conformity.count("extra_column"),
        "type_mismatches": conformity.count("type_mismatch"),
    }
    if not conformity.ok:
        metadata["violations"] = dg.JsonMetadataValue(conformity.violations)
        metadata["sample_failing_rows"] = dg.JsonMetadataValue(conformity.sample_rows)
    shown = "; ".join(f"{v['where']}: {v['column']}: {v['detail']}" for v in conformity.violations[:3])
    return dg.AssetCheckResult(
        check_name=SCHEMA_CONFORMITY,
        passed=conformity.ok,
        severity=severity,
        metadata=metadata,
        description="columns and types conform to target_schema" if conformity.ok else shown,
    )


def _anomaly_result(verdict: AnomalyVerdict, min_history: int, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    metadata = {
        "value": dg.FloatMetadataValue(round(verdict.z, 6) if verdict.z is not None else 0.0),
        "threshold": dg.FloatMetadataValue(verdict.max_z),
        "row_count": verdict.rows,
        "history": verdict.history,
        "min_history": min_history,
    }
    if verdict.z is not None:
        metadata["median"] = dg.FloatMetadataValue(float(verdict.median))
        metadata["mad"] = dg.FloatMetadataValue(float(verdict.mad))
    return dg.AssetCheckResult(
        check_name=ROW_COUNT_ANOMALY,
        passed=not verdict.anomalous,
        severity=severity,
        metadata=metadata,
        description=verdict.describe(),
    )
