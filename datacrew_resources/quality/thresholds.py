"""The thresholds a transformation's quality checks hold it to."""

from __future__ import annotations

from ..config import QualityDefaults, TransformationSpec

QUALITY_CHECKS = ("completeness", "consistency", "accuracy")


def thresholds(spec: TransformationSpec, defaults: QualityDefaults) -> dict[str, float]:
    """The spec's thresholds, falling back to the platform's (0.95 / 0.98 / 0.97)."""
    return {
        name: getattr(spec.quality, name) if getattr(spec.quality, name) is not None else getattr(defaults, name)
        for name in QUALITY_CHECKS
    }
