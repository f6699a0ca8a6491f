"""The composite quality score of one asset and the tutorial's quality bands.

    quality_score = (completeness + consistency + accuracy) / 3

Each figure is a share of cells or rows in 0..1 (see `metrics`), so the score
is too; equal weights, because the tutorial sets a threshold for each of the
three and ranks none above the others. The bands are the tutorial's
`quality_distribution`: high from 0.8, medium from 0.6, low below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .metrics import QualityMetrics

BANDS = (("high", 0.8), ("medium", 0.6), ("low", float("-inf")))


def quality_score(metrics: QualityMetrics) -> float:
    return round((metrics.completeness + metrics.consistency + metrics.accuracy) / 3, 6)


def band(score: float) -> str:
    return next(name for name, floor in BANDS if score >= floor)


def quality_distribution(scores: Iterable[float]) -> dict[str, int]:
    """How many scores fall in each band, every band present."""
    counted = Counter(band(s) for s in scores)
    return {name: counted.get(name, 0) for name, _ in BANDS}
