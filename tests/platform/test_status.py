"""`datacrew status`: status, monitor, lineage and optimize equal what the instance recorded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime

import dagster as dg
import pytest

from datacrew_assets.cli import main
from datacrew_assets.jobs import TRANSFORM_JOB
from datacrew_resources.quality import band, quality_distribution

from .conftest import run_assets

DELAYS, CLEAN = "transformed/delays_by_carrier", "transformed/flights_clean"


def _cli(capsys, home, *args: str) -> tuple[int, str, str]:
    code = main(["status", *args, "--home", str(home.root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _json(capsys, home, *args: str) -> dict:
    code, out, err = _cli(capsys, home, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture
def history(home):
    """Two runs of the transformation job: both assets succeed, then delays_by_carrier fails."""
    ok = run_assets(home, CLEAN, DELAYS)
    assert ok.success
    spec = home.root / "specs" / "delays_by_carrier.yaml"
    good = spec.read_text()
    spec.write_text(good.replace("{name: carrier, type: VARCHAR,", "{name: carrier, type: INTEGER,"))
    failed = run_assets(home, DELAYS)
    assert not failed.success
    spec.write_text(good)
    return ok, failed


def _step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Asset key -> its step's recorded duration, from the run's step success events."""
    return {
        "/".join(e.step_key.split("__")): e.event_specific_data.duration_ms / 1000
        for e in result.get_step_success_events()
        if e.step_key in ("transformed__delays_by_carrier", "transformed__flights_clean")
    }


def _durations(result: dg.ExecuteInProcessResult) -> dict[str, tuple[str, float]]:
    """Asset key -> (measure, seconds): the materialization's recorded latency where it has
    one, else its step's duration (what optimize ranks by)."""
    steps = _step_seconds(result)
    found = {}
    for m in result.get_asset_materialization_events():
        key = m.asset_key.to_user_string()
        latency = m.materialization.metadata.get("datacrew/latency_seconds")
        found[key] = ("latency_seconds", latency.value) if latency else ("step_seconds", steps[key])
    return found


def test_an_empty_instance_says_no_runs_yet(home, capsys):
    code, out, err = _cli(capsys, home)
    assert code == 0, err
    assert out.splitlines()[0].startswith("no runs yet")
    report = _json(capsys, home)
    assert report["runs_recorded"] is False
    assert all(job["last_run"] is None for job in report["jobs"])
    assert all(a["last_materialization"] is None and a["quality_score"] is None for a in report["assets"])
    assert report["quality_distribution"] == {"high": 0, "medium": 0, "low": 0}
    code, out, _ = _cli(capsys, home, "monitor")
    assert code == 0 and out.startswith("no runs in the last 24h")
    code, out, _ = _cli(capsys, home, "optimize")
    assert code == 0 and out.startswith("no runs in the last 24h: nothing to optimize")


def test_status_is_what_the_runs_recorded(home, history, capsys):
    ok, failed = history
    instance = dg.DagsterInstance.get()
    report = _json(capsys, home)
    assert report["runs_recorded"] is True

    [job] = [j for j in report["jobs"] if j["job"] == TRANSFORM_JOB]
    record = instance.get_run_record_by_id(failed.run_id)
    run = job["last_run"]
    assert (run["run_id"], run["status"]) == (failed.run_id, "FAILURE")
    assert run["duration_seconds"] == record.end_time - record.start_time
    assert _timestamp(run["started_at"]) == pytest.approx(record.start_time, abs=1e-6)

    assets = {a["asset_key"]: a for a in report["assets"]}
    delays = assets[DELAYS]
    [materialization] = [m for m in ok.get_asset_materialization_events() if m.asset_key.to_user_string() == DELAYS]
    metadata = materialization.materialization.metadata
    assert delays["kind"] == "transformation" and assets["lake/flights"]["kind"] == "discovered"
    assert delays["last_materialization"]["run_id"] == ok.run_id
    assert delays["last_materialization"]["row_count"] == metadata["dagster/row_count"].value == 16
    recorded_score = metadata.get("datacrew/quality_score")
    assert delays["quality_score"] == (recorded_score.value if recorded_score else None)

    # The failed run planned the checks but never evaluated them: the latest results are the first run's.
    evaluations = {e.check_name: e for e in ok.get_asset_check_evaluations() if e.asset_key.to_user_string() == DELAYS}
    checks = {c["name"]: c for c in delays["checks"]}
    assert set(evaluations) <= set(checks)
    for name, evaluation in evaluations.items():
        check = checks[name]
        assert (check["passed"], check["value"], check["threshold"], check["run_id"]) == (
            evaluation.passed, evaluation.metadata["value"].value, evaluation.metadata["threshold"].value, ok.run_id)
        assert (check["status"], check["execution_run_id"]) == ("planned", failed.run_id)

    one = _json(capsys, home, DELAYS)
    assert one["jobs"] == [] and one["assets"] == [delays]
    job_only = _json(capsys, home, TRANSFORM_JOB)
    assert job_only["assets"] == [] and job_only["jobs"] == [job]


def test_quality_scores_come_from_the_latest_records(home, history, capsys):
    """Observed datasets take their score from observations; the bands are the tutorial's."""
    instance = dg.DagsterInstance.get()
    observed = {"lake/flights": 0.5, "warehouse/airlines": 0.97, "lake/planes": 0.7}
    for key, score in observed.items():
        instance.report_runless_asset_event(dg.AssetObservation(
            asset_key=key.split("/"), metadata={"datacrew/quality_score": score, "dagster/row_count": 7}))
    report = _json(capsys, home)
    assets = {a["asset_key"]: a for a in report["assets"]}
    for key, score in observed.items():
        assert (assets[key]["quality_score"], assets[key]["quality_band"]) == (score, band(score))
        assert assets[key]["last_observation"]["row_count"] == 7
    scores = [a["quality_score"] for a in assets.values() if a["quality_score"] is not None]
    assert report["quality_distribution"] == quality_distribution(scores)
    assert {"low", "medium", "high"} == {assets[k]["quality_band"] for k in observed}
    # Unscored assets stay unscored: nothing is made up for them.
    assert assets["warehouse/weather"]["quality_score"] is None


def test_monitor_counts_runs_durations_rows_and_checks(home, history, capsys):
    ok, failed = history
    instance = dg.DagsterInstance.get()
    report = _json(capsys, home, "monitor")
    records = [instance.get_run_record_by_id(r.run_id) for r in (ok, failed)]
    durations = sorted(r.end_time - r.start_time for r in records)
    assert report["runs"] == {
        "total": 2,
        "by_status": {"FAILURE": 1, "SUCCESS": 1},
        "failure_rate": 0.5,
        "duration_seconds": {"count": 2, "mean": sum(durations) / 2, "p95": durations[1], "max": durations[1]},
    }
    assert [j["job"] for j in report["jobs"]] == [TRANSFORM_JOB]
    rows = {m.asset_key.to_user_string(): m.materialization.metadata["dagster/row_count"].value
            for m in ok.get_asset_materialization_events()}
    assert report["rows_written"] == sum(rows.values()) == 16 + rows[CLEAN]
    # Rows per second over the materializations that recorded their latency (helper metadata).
    latencies = {m.asset_key.to_user_string(): m.materialization.metadata.get("datacrew/latency_seconds")
                 for m in ok.get_asset_materialization_events()}
    timed = {k: v.value for k, v in latencies.items() if v is not None}
    if timed:
        expected = sum(rows[k] for k in timed) / sum(timed.values())
        assert report["throughput_rows_per_second"] == pytest.approx(expected, rel=1e-12)
    else:
        assert report["throughput_rows_per_second"] is None
    breaches = [b for m in ok.get_asset_materialization_events()
                for b in (getattr(m.materialization.metadata.get("datacrew/sla_breaches"), "value", None) or [])]
    assert report["sla_breaches"] == len(breaches)
    evaluations = [*ok.get_asset_check_evaluations(), *failed.get_asset_check_evaluations()]
    assert report["checks"] == {"evaluated": len(evaluations), "failed": sum(not e.passed for e in evaluations)}

    assets = {a["asset_key"]: a for a in report["assets"]}
    delays, seconds = assets[DELAYS], _step_seconds(ok)
    assert (delays["materializations"], delays["step_attempts"], delays["step_failures"]) == (1, 2, 1)
    assert delays["failure_rate"] == 0.5 and delays["failed_runs"] == [failed.run_id]
    assert delays["step_seconds"]["mean"] == seconds[DELAYS]
    assert assets[CLEAN]["rows_written"] == rows[CLEAN] and assets[CLEAN]["step_failures"] == 0

    # A window that ends before now holds no run.
    code, out, _ = _cli(capsys, home, "monitor", "--hours", "0.000001")
    assert code == 0 and out.startswith("no runs in the last")


def test_lineage_edges_and_recorded_column_lineage(home, history, capsys):
    ok, _ = history
    report = _json(capsys, home, "lineage", DELAYS)
    assert report["upstream"] == [
        {"asset_key": DELAYS, "depends_on": "lake/flights"},
        {"asset_key": DELAYS, "depends_on": "warehouse/airlines"},
    ]
    assert report["downstream"] == []
    assert report["column_lineage_run_id"] == ok.run_id
    assert report["column_lineage"] == {
        "avg_arr_delay": [{"asset_key": "lake/flights", "column": "arr_delay"}],
        "avg_dep_delay": [{"asset_key": "lake/flights", "column": "dep_delay"}],
        "carrier": [{"asset_key": "lake/flights", "column": "carrier"}],
        "flights": [],
        "name": [{"asset_key": "warehouse/airlines", "column": "name"}],
    }
    clean = _json(capsys, home, "lineage", CLEAN)
    assert clean["upstream"] == [{"asset_key": CLEAN, "depends_on": "lake/flights"}]
    assert clean["downstream"] == [
        {"asset_key": f"transformed/{name}", "depends_on": CLEAN}
        for name in ("daily_summary", "flights_weather", "route_stats")
    ]
    # Never materialized: edges, and no column lineage rather than a guess.
    summary = _json(capsys, home, "lineage", "transformed/daily_summary")
    assert summary["column_lineage"] is None and summary["column_lineage_run_id"] is None


def test_optimize_cites_the_recorded_slowest_asset_and_the_failures(home, history, capsys):
    ok, failed = history
    report = _json(capsys, home, "optimize")
    by_kind = {}
    for r in report["recommendations"]:
        by_kind.setdefault(r["kind"], []).append(r)
    # Each asset succeeded once (the failed attempt recorded no duration): its mean is that one figure.
    durations = _durations(ok)
    slowest = max(durations, key=lambda k: durations[k][1])
    measure, seconds = durations[slowest]
    first = by_kind["slow_asset"][0]
    assert first["subject"] == slowest and first["evidence"]["rank"] == 1
    assert (first["evidence"]["measure"], first["evidence"]["mean"], first["evidence"]["count"]) == (measure, seconds, 1)
    assert f"{measure} mean {seconds:.3f}s" in first["message"]
    assert [r["subject"] for r in by_kind["slow_asset"]] == sorted(durations, key=lambda k: -durations[k][1])
    [failing] = by_kind["failing_asset"]
    assert failing["subject"] == DELAYS
    assert failing["evidence"] == {"step_attempts": 2, "step_failures": 1, "failure_rate": 0.5, "failed_runs": [failed.run_id]}
    [job] = by_kind["failing_job"]
    assert job["evidence"] == {"finished_runs": 2, "failed_runs": 1, "failure_rate": 0.5}
    code, out, _ = _cli(capsys, home, "optimize")
    assert code == 0 and f"[slow_asset] {slowest} is the slowest asset" in out


@pytest.mark.parametrize(("args", "named"), [
    (["nope/nothing"], "KEY: 'nope/nothing': no such asset or job"),
    (["lineage", "nope/nothing"], "KEY: 'nope/nothing': no such asset"),
    (["lineage"], "KEY: None: lineage needs an asset key"),
    (["frobnicate", "lake/flights"], "ACTION: 'frobnicate': unknown action"),
    (["monitor", "--hours", "-1"], "hours: '-1': must be a positive number of hours"),
    (["optimize", "--hours", "soon"], "hours: 'soon': must be a number of hours"),
    (["--hours", "3"], "hours: '3': only monitor and optimize take a window"),
])
def test_bad_input_is_one_line_exit_2(home, capsys, args, named):
    code, out, err = _cli(capsys, home, *args)
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line == f"datacrew: {named}" or line.startswith(f"datacrew: {named}"), line


def test_status_does_not_import_crewai(home):
    code = textwrap.dedent(f"""
        import sys
        from datacrew_assets.cli import main
        for args in ([], ["monitor"], ["optimize"], ["lineage", "lake/flights"]):
            assert main(["status", *args, "--home", {str(home.root)!r}, "--json"]) == 0
        print(sorted(m for m in sys.modules if m == "crewai" or m.startswith("crewai.")))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
