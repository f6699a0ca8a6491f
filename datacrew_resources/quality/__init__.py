"""Data quality: metrics in one scan, thresholds."""

from .metrics import QualityMetrics, measure, parquet_table, sample_failures

__all__ = ["QualityMetrics", "measure", "parquet_table", "sample_failures"]
