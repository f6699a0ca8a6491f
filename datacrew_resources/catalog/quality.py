"""Completeness as connectors measure it: the share of non-null cells.

    completeness = non-null cells / (rows * measured columns)

It is the quality score of records without a profile; `profile.py` documents
the full score (completeness, validity, key uniqueness) of profiled records.

Parquet null counts come from footer statistics (columns without statistics
are left out of the measure); CSV/JSON and warehouse tables count non-null
values in the same query that counts rows. An empty dataset, or one where no
column could be measured, has no score (`None`), which ranking treats as 0.
"""

from __future__ import annotations

from collections.abc import Sequence


def completeness(rows: int, non_null: Sequence[int]) -> float | None:
    """Share of non-null cells over the measured columns, rounded to 4 places."""
    if rows <= 0 or not non_null:
        return None
    return round(sum(non_null) / (rows * len(non_null)), 4)
