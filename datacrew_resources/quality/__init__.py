"""Data quality: metrics in one scan, thresholds, row-count anomalies, the composite score."""

from .anomaly import AnomalyVerdict, row_count_anomaly
from .metrics import QualityMetrics, measure, parquet_table, sample_failures
from .score import band, quality_distribution, quality_score
from .thresholds import QUALITY_CHECKS, thresholds

__all__ = [
    "QUALITY_CHECKS",
    "AnomalyVerdict",
    "QualityMetrics",
    "band",
    "measure",
    "parquet_table",
    "quality_distribution",
    "quality_score",
    "row_count_anomaly",
    "sample_failures",
    "thresholds",
]
