"""The thresholds and settings a transformation's checks hold it to: the spec's, else the platform's."""

from __future__ import annotations

from ..config import QualityDefaults, TransformationSpec
from ..config.quality import RowCountAnomalySettings

QUALITY_CHECKS = ("completeness", "consistency", "accuracy")


def thresholds(spec: TransformationSpec, defaults: QualityDefaults) -> dict[str, float]:
    """The spec's thresholds, falling back to the platform's (0.95 / 0.98 / 0.97)."""
    return {
        name: getattr(spec.quality, name) if getattr(spec.quality, name) is not None else getattr(defaults, name)
        for name in QUALITY_CHECKS
    }


def anomaly_settings(spec: TransformationSpec, defaults: QualityDefaults) -> RowCountAnomalySettings:
    """The spec's row-count anomaly settings over the platform's (window 20, min_history 5, max_z 3.5)."""
    overrides = spec.quality.row_count_anomaly.model_dump(exclude_none=True)
    return defaults.row_count_anomaly.model_copy(update=overrides)
