"""Row-count anomaly against an asset's own history, with a robust statistic.

The history is the row counts of the asset's last materializations (or, for a
discovered dataset, its last quality observations). Median and median absolute
deviation (MAD) resist the very outliers the check looks for, where a mean and
a standard deviation would be dragged by them:

    scale   = max(1.4826 * MAD, floor_share * |median|, 1)
    z       = |rows - median| / scale
    anomaly = z > max_z            (3.5: Iglewicz and Hoaglin's cut-off)

1.4826 * MAD estimates the standard deviation of normal data. The floor keeps a
perfectly steady history (MAD 0) from flagging a one-row change: deviations
under `floor_share` of the median never count. With fewer than `min_history`
earlier figures there is no baseline yet and the check passes, saying so.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

NORMAL_MAD = 1.4826


@dataclass(frozen=True)
class AnomalyVerdict:
    rows: int
    history: int  # how many earlier figures were compared
    median: float | None
    mad: float | None
    z: float | None  # None while the history is too short
    max_z: float

    @property
    def anomalous(self) -> bool:
        return self.z is not None and self.z > self.max_z

    def describe(self) -> str:
        if self.z is None:
            return f"{self.rows} rows; {self.history} earlier figure(s), too few for a baseline"
        return f"{self.rows} rows against median {self.median:g} (robust z {self.z:.2f}, limit {self.max_z:g})"


def row_count_anomaly(
    rows: int,
    history: Sequence[int],
    *,
    min_history: int = 5,
    max_z: float = 3.5,
    floor_share: float = 0.01,
) -> AnomalyVerdict:
    """Judge `rows` against `history` (earlier row counts, any order)."""
    if len(history) < min_history:
        return AnomalyVerdict(rows, len(history), None, None, None, max_z)
    median = statistics.median(history)
    mad = statistics.median(abs(h - median) for h in history)
    scale = max(NORMAL_MAD * mad, floor_share * abs(median), 1.0)
    return AnomalyVerdict(rows, len(history), median, mad, abs(rows - median) / scale, max_z)
