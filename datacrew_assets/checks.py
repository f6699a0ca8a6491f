"""Quality checks per transformation: completeness, consistency, accuracy in one scan."""


from collections.abc import Iterator

import dagster as dg

from datacrew_resources.config import QualityDefaults, TransformationSpec
from datacrew_resources.quality import (
    QUALITY_CHECKS,
    QualityMetrics,
    measure,
    sample_failures,
    thresholds,
)

from datacrew_resources.resources import PlatformResource

COMPLETENESS, CONSISTENCY, ACCURACY = QUALITY_CHECKS

_DESCRIPTIONS = {
    COMPLETENESS: "Share of non-null cells over the target schema's columns",
    CONSISTENCY: "Distinct present primary keys over rows (key uniqueness)",
    ACCURACY: "Share of rows meeting every declared value constraint",
}


def quality_check_specs(spec: TransformationSpec) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=dg.AssetKey(spec.asset_key),
            description=_DESCRIPTIONS[name],
            blocking=name in spec.quality.blocking,
        )
        for name in QUALITY_CHECKS
    ]


def _figures(metrics: QualityMetrics) -> dict[str, tuple[float, dict]]:
    return {
        COMPLETENESS: (
            metrics.completeness,
            {"null_cells": metrics.null_cells, "cells": metrics.cell_count},
        ),
        CONSISTENCY: (
            metrics.consistency,
            {"duplicate_or_missing_key_rows": metrics.duplicate_key_rows},
        ),
        ACCURACY: (
            metrics.accuracy,
            {
                "failing_rows": metrics.inaccurate_rows,
                "violations_by_column": dg.JsonMetadataValue(metrics.constraint_violations),
            },
        ),
    }


def build_quality_checks(
    *, spec: TransformationSpec, defaults: QualityDefaults
) -> dg.AssetChecksDefinition:
    """One op evaluating the three checks of one transformation from a single SQL pass."""
    limits = thresholds(spec, defaults)
    check_specs = quality_check_specs(spec)

    @dg.multi_asset_check(
        name=f"{spec.layer}__{spec.name}__quality",
        specs=check_specs,
        can_subset=True,
    )
    def _quality(
        context: dg.AssetCheckExecutionContext, platform: PlatformResource
    ) -> Iterator[dg.AssetCheckResult]:
        with platform.transformation_output(spec) as opened:
            if opened is None:
                for key in context.selected_asset_check_keys:
                    yield dg.AssetCheckResult(
                        check_name=key.name,
                        asset_key=key.asset_key,
                        passed=False,
                        severity=dg.AssetCheckSeverity.ERROR,
                        description="no output yet: materialize the asset first",
                    )
                return
            connection, table = opened
            metrics = measure(connection, spec.target_schema, table)
            figures = _figures(metrics)
            failing = {name for name, (value, _) in figures.items() if value < limits[name]}
            samples = sample_failures(connection, spec.target_schema, table) if failing else {}
        for key in context.selected_asset_check_keys:
            value, counts = figures[key.name]
            metadata = {
                "value": dg.FloatMetadataValue(round(value, 6)),
                "threshold": dg.FloatMetadataValue(limits[key.name]),
                "row_count": metrics.row_count,
                **counts,
            }
            if key.name in samples:
                metadata["sample_failing_rows"] = dg.JsonMetadataValue(samples[key.name])
            yield dg.AssetCheckResult(
                check_name=key.name,
                asset_key=key.asset_key,
                passed=value >= limits[key.name],
                severity=dg.AssetCheckSeverity.ERROR if key.name in spec.quality.blocking else dg.AssetCheckSeverity.WARN,
                metadata=metadata,
                description=f"{key.name} {value:.4f} against threshold {limits[key.name]}",
            )

    return _quality
