"""Quality and SLA settings: platform defaults in `datacrew.yaml`, per-spec overrides.

Numbers are strict (a string or a boolean is refused, not coerced), so `max_latency_seconds:
"5m"` is a one-line error rather than a silent surprise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Every check of a transformation that `quality.blocking` may name (schema_conformity
# always blocks; naming it changes nothing).
BlockableCheck = Literal["completeness", "consistency", "accuracy", "schema_conformity", "row_count_anomaly"]

# The tutorial's performance_slas: 5 minutes, 10,000 records per hour, 0.1 %.
DEFAULT_MAX_LATENCY_SECONDS = 300.0
DEFAULT_MIN_THROUGHPUT_ROWS_PER_SECOND = 10_000 / 3600
DEFAULT_MAX_ERROR_RATE = 0.001


class _StrictNumbers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RowCountAnomalySettings(_StrictNumbers):
    """How a row count is judged against the asset's own history (see `quality.anomaly`)."""

    window: int = Field(default=20, ge=1, description="earlier materializations compared")
    min_history: int = Field(default=5, ge=1, description="earlier figures needed for a baseline")
    max_z: float = Field(default=3.5, gt=0, description="robust z above which the count is an anomaly")


class RowCountAnomalyOverrides(_StrictNumbers):
    """A spec's row-count anomaly settings; `None` means the platform default."""

    window: int | None = Field(default=None, ge=1)
    min_history: int | None = Field(default=None, ge=1)
    max_z: float | None = Field(default=None, gt=0)


class QualityDefaults(_StrictNumbers):
    """Platform-wide thresholds, the tutorial's figures, and the row-count anomaly settings."""

    completeness: float = Field(default=0.95, ge=0, le=1)
    consistency: float = Field(default=0.98, ge=0, le=1)
    accuracy: float = Field(default=0.97, ge=0, le=1)
    row_count_anomaly: RowCountAnomalySettings = Field(default_factory=RowCountAnomalySettings)


class SlaDefaults(_StrictNumbers):
    """`slas:` in datacrew.yaml: the limits every transformation run is measured against."""

    max_latency_seconds: float = Field(default=DEFAULT_MAX_LATENCY_SECONDS, gt=0)
    min_throughput_rows_per_second: float = Field(default=DEFAULT_MIN_THROUGHPUT_ROWS_PER_SECOND, ge=0)
    max_error_rate: float = Field(default=DEFAULT_MAX_ERROR_RATE, ge=0, le=1)
    freshness_hours: float | None = Field(
        default=None, gt=0, description="hours after which an asset is stale; unset: no freshness check"
    )


class SlaOverrides(_StrictNumbers):
    """`sla:` in a spec; `None` means the platform's limit."""

    max_latency_seconds: float | None = Field(default=None, gt=0)
    min_throughput_rows_per_second: float | None = Field(default=None, ge=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    freshness_hours: float | None = Field(default=None, gt=0)
