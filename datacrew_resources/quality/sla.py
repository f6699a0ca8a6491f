"""Service-level figures of one transformation run and their breaches.

    latency_seconds            = wall time of the materialization (crew run + checks)
    throughput_rows_per_second = output rows / latency_seconds
    error_rate                 = quarantined rows / (output rows + quarantined rows)

A run without quarantine has error rate 0: rows that break the contract under `fail`
stop the run instead (a failure, not a rate). The limits are `slas:` in datacrew.yaml
(the tutorial's 5 minutes, 10,000 records per hour and 0.1 %) under each spec's `sla:`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import TransformationSpec
from ..config.quality import SlaDefaults


@dataclass(frozen=True)
class SlaFigures:
    latency_seconds: float
    throughput_rows_per_second: float
    error_rate: float


def sla_figures(*, output_rows: int, quarantined_rows: int, seconds: float) -> SlaFigures:
    judged = output_rows + quarantined_rows
    return SlaFigures(
        latency_seconds=round(seconds, 6),
        throughput_rows_per_second=round(output_rows / seconds, 6) if seconds > 0 else 0.0,
        error_rate=round(quarantined_rows / judged, 6) if judged else 0.0,
    )


def sla_limits(spec: TransformationSpec, defaults: SlaDefaults) -> SlaDefaults:
    """The platform's limits with the spec's `sla:` overrides applied."""
    return defaults.model_copy(update=spec.sla.model_dump(exclude_none=True))


def sla_breaches(figures: SlaFigures, limits: SlaDefaults) -> list[dict[str, object]]:
    """One {"metric", "value", "limit"} per figure beyond its limit; [] when none."""
    beyond = {
        "latency_seconds": (figures.latency_seconds, limits.max_latency_seconds, figures.latency_seconds > limits.max_latency_seconds),
        "throughput_rows_per_second": (
            figures.throughput_rows_per_second,
            limits.min_throughput_rows_per_second,
            figures.throughput_rows_per_second < limits.min_throughput_rows_per_second,
        ),
        "error_rate": (figures.error_rate, limits.max_error_rate, figures.error_rate > limits.max_error_rate),
    }
    return [
        {"metric": metric, "value": value, "limit": limit}
        for metric, (value, limit, breached) in beyond.items()
        if breached
    ]
