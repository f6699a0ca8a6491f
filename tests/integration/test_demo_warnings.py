"""The demo's dirty dataset: its checks warn (exit 0), the summary shows them, and the alert is written once.

Expected figures come from the package's flights CSV in pandas, with the planting rules
of `demo.delay_reports` and the declarations of the demo's `datacrew.yaml` applied by hand.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from .helpers import CLI, RawData, home_env

pytestmark = pytest.mark.slow

DATASET = "share/delay_reports"
ROWS = 842  # flights of 2013-01-01
DUPLICATED_KEYS = 21
UNKNOWN_CARRIERS = 4
ALERT_LOG = Path("state") / "alerts.jsonl"


def delay_reports(raw: RawData) -> pd.DataFrame:
    """The CSV by hand: the day's flights in scheduled order, with the three planted faults."""
    day = raw.flights[(raw.flights.month == 1) & (raw.flights.day == 1)]
    day = day.sort_values(["sched_dep_time", "carrier", "flight"]).reset_index(drop=True)
    n = pd.Series(range(1, len(day) + 1))
    return day.assign(
        report_id=n.where(n % 40 != 0, n - 1),
        carrier=day.carrier.where(n % 200 != 123, "ZZ"),
        distance=day.distance.where(n % 25 != 13, -day.distance),
    )


def expected_consistency(reports: pd.DataFrame, raw: RawData) -> float:
    """min(key uniqueness, referential integrity of carrier to warehouse/airlines)."""
    unique = reports.report_id.nunique() / len(reports)
    known = reports.carrier.isin(raw.airlines.carrier).sum() / len(reports)
    return min(unique, known)


def inaccurate(reports: pd.DataFrame) -> pd.Series:
    """Rows breaking a declared value constraint (a NULL breaks none)."""
    delay = reports.dep_delay
    return (
        (delay.notna() & ((delay < -60) | (delay > 240)))
        | (reports.distance < 0)
        | ~reports.origin.isin(["EWR", "JFK", "LGA"])
        | (reports.tailnum.notna() & ~reports.tailnum.fillna("").str.fullmatch(r"N[0-9A-Z]{1,5}"))
    )


def alert_records(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / ALERT_LOG).read_text().splitlines()]


@pytest.fixture(scope="module")
def second_run(demo_home) -> subprocess.CompletedProcess[str]:
    """`datacrew demo` again on the same home, as text: what a user reads."""
    home, _ = demo_home
    return subprocess.run(
        [*CLI, "demo", "--home", str(home)], env=home_env(home), cwd=home,
        capture_output=True, text=True, timeout=900,
    )


def test_hand_counts(raw):
    reports = delay_reports(raw)
    assert len(reports) == ROWS
    assert reports.report_id.duplicated().sum() == DUPLICATED_KEYS
    assert (~reports.carrier.isin(raw.airlines.carrier)).sum() == UNKNOWN_CARRIERS
    # 34 negative distances + 6 departures over 240 min, one report (588) having both.
    assert inaccurate(reports).sum() == 39


def test_dirty_dataset_warns_with_exact_figures(demo_home, raw):
    _, report = demo_home  # the fixture asserted exit code 0
    reports = delay_reports(raw)
    datasets = {d["asset_key"]: d for d in report["datasets"]}
    checks = {c["name"]: c for c in datasets[DATASET]["checks"]}

    consistency, accuracy = checks["consistency"], checks["accuracy"]
    assert consistency["passed"] is False and consistency["severity"] == "WARN"
    # Figures are recorded rounded to 6 decimals.
    assert consistency["value"] == round(expected_consistency(reports, raw), 6)
    assert consistency["value"] == round((ROWS - DUPLICATED_KEYS) / ROWS, 6)
    assert consistency["threshold"] == 0.98
    assert accuracy["passed"] is False and accuracy["severity"] == "WARN"
    assert accuracy["value"] == round((ROWS - inaccurate(reports).sum()) / ROWS, 6)
    assert accuracy["threshold"] == 0.97
    assert checks["completeness"]["passed"] is True and checks["completeness"]["value"] == 1.0

    duplicated_ids = set(reports.report_id[reports.report_id.duplicated()])
    assert consistency["sample_failing_rows"][0]["report_id"] in duplicated_ids
    bad_ids = set(reports.report_id[inaccurate(reports)])
    assert {row["report_id"] for row in accuracy["sample_failing_rows"]} <= bad_ids

    warnings = {(w["asset_key"], w["check_name"]): w for w in report["warnings"]}
    assert set(warnings) == {(DATASET, "consistency"), (DATASET, "accuracy")}
    assert warnings[(DATASET, "accuracy")]["sample_failing_row"] == accuracy["sample_failing_rows"][0]
    # The other discovered datasets declare nothing dirty: their checks pass.
    assert all(c["passed"] for key, d in datasets.items() if key != DATASET for c in d["checks"])


def test_alert_is_written_to_the_home_log(demo_home):
    home, report = demo_home
    records = alert_records(home)
    assert sorted((r["kind"], r["asset_key"], r["check_name"]) for r in records) == [
        ("quality_degradation", DATASET, "accuracy"),
        ("quality_degradation", DATASET, "consistency"),
    ]
    assert {r["run_id"] for r in records} == {report["monitor_run_id"]}  # the quality monitor's pass
    assert report["alerts"]["sent_to"] == [str(home / ALERT_LOG)]
    assert sorted(a["check_name"] for a in report["alerts"]["sent"]) == ["accuracy", "consistency"]


def test_second_run_warns_again_without_a_second_alert(demo_home, second_run):
    home, _ = demo_home
    assert second_run.returncode == 0, second_run.stderr[-3000:]
    assert len(alert_records(home)) == 2
    lines = second_run.stdout.splitlines()
    failing = lines.index("failing checks:")
    shown = lines[failing + 1 : failing + 5]
    assert shown[0] == f"  {DATASET} accuracy 0.9537 vs threshold 0.97 (warning)"
    assert shown[1].startswith("    sample failing row: {")
    assert shown[2] == f"  {DATASET} consistency 0.9751 vs threshold 0.98 (warning)"
    assert shown[3].startswith("    sample failing row: {")
    assert any(line.startswith("  run ") and line.endswith(": ok (2 warnings)") for line in lines)
    assert any(line.startswith("alerts: none sent") and str(home / ALERT_LOG) in line for line in lines)
