"""Data quality: metrics in one scan, thresholds."""

from .metrics import QualityMetrics, measure, parquet_table, sample_failures
from .thresholds import QUALITY_CHECKS, thresholds

__all__ = ["QUALITY_CHECKS", "QualityMetrics", "measure", "parquet_table", "sample_failures", "thresholds"]
