"""The demo's dirty dataset, rebuilt by hand in pandas from the package's flights CSV.

The expected faults follow the rules documented in `demo.delay_reports`, applied
here independently; the hand counts are the figures the quality checks must find.
"""

from __future__ import annotations

import pandas as pd
import pytest

from datacrew_resources.demo import build_demo_sources
from datacrew_resources.demo.sources import DELAY_REPORTS_ROWS, _data_dir

# Counted by hand from the rules over the 842 flights of 2013-01-01.
DUPLICATED_KEYS = 21  # n = 40, 80, ..., 840
NEGATIVE_DISTANCES = 34  # n = 13, 38, ..., 838
UNKNOWN_CARRIERS = 4  # n = 123, 323, 523, 723
REAL_LONG_DELAYS = 6  # dep_delay > 240 in the package's own data that day


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> pd.DataFrame:
    sources = build_demo_sources(tmp_path_factory.mktemp("home"))
    return pd.read_csv(sources.share / "delay_reports.csv", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    flights = pd.read_csv(_data_dir() / "flights.csv.zip", na_values=["NA"], keep_default_na=False)
    day = flights[(flights.year == 2013) & (flights.month == 1) & (flights.day == 1)]
    day = day.sort_values(["sched_dep_time", "carrier", "flight"]).reset_index(drop=True)
    n = pd.Series(range(1, len(day) + 1))
    out = pd.DataFrame(
        {
            "report_id": n.where(n % 40 != 0, n - 1),
            "flight_date": "2013-01-01",
            "carrier": day.carrier.where(n % 200 != 123, "ZZ"),
            "flight": day.flight,
            "tailnum": day.tailnum,
            "origin": day.origin,
            "dest": day.dest,
            "sched_dep_time": day.sched_dep_time,
            "dep_delay": day.dep_delay,
            "arr_delay": day.arr_delay,
            "distance": day.distance.where(n % 25 != 13, -day.distance),
        }
    )
    return out


def test_every_row_matches_the_rules(reports, expected):
    assert len(reports) == DELAY_REPORTS_ROWS == 842
    pd.testing.assert_frame_equal(reports, expected, check_dtype=False)


def test_hand_counted_faults(reports, expected):
    assert reports.report_id.duplicated().sum() == DUPLICATED_KEYS
    assert reports.report_id.nunique() == 842 - DUPLICATED_KEYS
    assert (reports.distance < 0).sum() == NEGATIVE_DISTANCES
    assert (reports.carrier == "ZZ").sum() == UNKNOWN_CARRIERS
    assert (reports.dep_delay > 240).sum() == REAL_LONG_DELAYS
    # The planted faults sit on disjoint rows.
    planted = [reports.report_id.duplicated(keep="first"), reports.distance < 0, reports.carrier == "ZZ"]
    assert sum(int(mask.sum()) for mask in planted) == int(pd.concat(planted, axis=1).any(axis=1).sum())
