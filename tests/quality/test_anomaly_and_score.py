"""Robust row-count anomaly and the composite score, on hand-worked figures."""

from __future__ import annotations

import pytest

from datacrew_resources.quality import QualityMetrics
from datacrew_resources.quality.anomaly import row_count_anomaly
from datacrew_resources.quality.score import band, quality_distribution, quality_score


def test_short_history_is_no_baseline():
    verdict = row_count_anomaly(10, [10, 11, 12, 13])
    assert verdict.z is None and not verdict.anomalous and "too few" in verdict.describe()


def test_outlier_in_history_does_not_hide_a_drop():
    # One earlier spike (10,000) would double a mean; the median stays at 1,000.
    history = [1000, 1010, 990, 1005, 995, 10_000]
    verdict = row_count_anomaly(400, history)
    assert verdict.median == 1002.5 and verdict.mad == 7.5
    assert verdict.z == pytest.approx(602.5 / (1.4826 * 7.5))
    assert verdict.anomalous
    assert not row_count_anomaly(1003, history).anomalous


def test_steady_history_tolerates_one_percent():
    history = [1000] * 6
    assert not row_count_anomaly(1035, history).anomalous  # z = 35 / 10 = 3.5, not above
    assert row_count_anomaly(1036, history).anomalous


def _metrics(completeness: float, consistency: float, accuracy: float) -> QualityMetrics:
    return QualityMetrics(10, completeness, consistency, accuracy, 0, 10, 0)


def test_score_is_the_mean_of_the_three_figures_and_bands_follow_the_tutorial():
    assert quality_score(_metrics(0.9, 0.6, 0.6)) == 0.7
    assert [band(s) for s in (0.8, 0.79, 0.6, 0.59)] == ["high", "medium", "medium", "low"]
    assert quality_distribution([0.95, 0.7, 0.2, 0.1]) == {"high": 1, "medium": 1, "low": 2}
    assert quality_distribution([]) == {"high": 0, "medium": 0, "low": 0}
