"""`datacrew status`: the pipeline orchestrator's status, monitor, lineage and optimize actions.

    datacrew status [KEY]              last runs, latest materializations, checks, quality bands
    datacrew status monitor [--hours H] runs, durations, rows, SLA figures over a window
    datacrew status lineage KEY        graph edges and recorded column lineage
    datacrew status optimize [--hours H] recommendations citing their figures
"""

from __future__ import annotations

import argparse
from typing import Any

from datacrew_resources.config import ConfigError, Home

from ..pipeline_status import ACTIONS, PipelineStatus
from .output import emit

NO_RUNS = "no runs yet: nothing has run in this home's Dagster instance (try `datacrew materialize --all`)"


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser("status", parents=[common], help="pipeline status, monitor, lineage and optimize from Dagster's records")
    status.add_argument("target", nargs="*", metavar="[ACTION] [KEY]",
                        help=f"an action ({', '.join(ACTIONS)}; default status) and/or an asset key or job name")
    status.add_argument("--hours", metavar="H", help="window for monitor and optimize (default 24)")


def parse_target(target: list[str]) -> tuple[str, str | None]:
    """(action, key) from `[ACTION] [KEY]`; a lone word that is not an action is a key."""
    if not target:
        return "status", None
    if len(target) == 1:
        return (target[0], None) if target[0] in ACTIONS else ("status", target[0])
    if len(target) > 2:
        raise ConfigError("expected [ACTION] [KEY]", field="arguments", value=" ".join(target))
    if target[0] not in ACTIONS:
        raise ConfigError(f"unknown action (one of {', '.join(ACTIONS)})", field="ACTION", value=target[0])
    return target[0], target[1]


def status_command(args: argparse.Namespace, home: Home) -> int:
    action, key = parse_target(args.target)
    report = PipelineStatus(home).report(action, key, args.hours)
    emit(args, report, LINES[action](report))
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _status_lines(report: dict[str, Any]) -> list[str]:
    lines = [] if report["runs_recorded"] else [NO_RUNS]
    if report["jobs"]:
        lines.append("jobs:")
    for job in report["jobs"]:
        run = job["last_run"]
        lines.append(f"  {job['job']:<32} " + (
            f"last run {run['status']} at {run['started_at']} in {_seconds(run['duration_seconds'])} ({run['run_id']})"
            if run else "never run"))
    if report["assets"]:
        lines.append("assets:")
    for asset in report["assets"]:
        event = asset["last_materialization"] or asset["last_observation"]
        seen = "materialized" if asset["last_materialization"] else "observed"
        when = f"{seen} {event['at']}" + (f" {event['row_count']:,} rows" if event["row_count"] is not None else "") if event else "no records"
        score = asset["quality_score"]
        quality = f"quality {score:.3f} {asset['quality_band']}" if score is not None else "quality -"
        checks = "  ".join(_check_text(c) for c in asset["checks"])
        lines.append(f"  {asset['asset_key']:<32} {asset['kind']:<14} {when}  {quality}  {checks}".rstrip())
    d = report["quality_distribution"]
    lines.append(f"quality distribution: high {d['high']}, medium {d['medium']}, low {d['low']}"
                 f" ({sum(d.values())} scored assets)")
    return lines


def _check_text(check: dict[str, Any]) -> str:
    if check["passed"] is None:
        return f"{check['name']} {'no result yet' if check['status'] else 'never run'}"
    value = "" if check["value"] is None else f" {check['value']:.3f}"
    stale = " (none in the latest run)" if check["status"] == "planned" else ""
    return f"{check['name']} {'ok' if check['passed'] else 'FAIL'}{value}{stale}"


def _runs_text(figures: dict[str, Any]) -> str:
    statuses = ", ".join(f"{s} {n}" for s, n in figures["by_status"].items())
    rate = "-" if figures["failure_rate"] is None else f"{figures['failure_rate']:.1%}"
    d = figures["duration_seconds"]
    durations = f"duration mean {d['mean']:.2f}s p95 {d['p95']:.2f}s" if d else "no finished run"
    runs = f"{figures['total']} run{'' if figures['total'] == 1 else 's'}"
    return f"{runs} ({statuses}), failure rate {rate}, {durations}"


def _monitor_lines(report: dict[str, Any]) -> list[str]:
    window = report["window"]
    if not report["runs"]["total"]:
        return [f"no runs in the last {window['hours']:g}h (since {window['since']})"]
    throughput = report["throughput_rows_per_second"]
    lines = [
        f"last {window['hours']:g}h: {_runs_text(report['runs'])}",
        *(f"  job {job['job']}: {_runs_text(job)}" for job in report["jobs"]),
        f"rows written {report['rows_written']:,}, throughput "
        + ("-" if throughput is None else f"{throughput:,.1f} rows/s")
        + f", checks {report['checks']['evaluated']} evaluated / {report['checks']['failed']} failed"
        + f", SLA breaches {report['sla_breaches']}",
    ]
    for a in report["assets"]:
        parts = []
        if a["step_attempts"] or a["materializations"]:
            step = a["step_seconds"]
            parts.append(f"{a['materializations']} materialized, {a['step_failures']} failed, {a['rows_written']:,} rows, "
                         f"step mean {_seconds(step and step['mean'])} p95 {_seconds(step and step['p95'])}")
        if a["observations"]:
            parts.append(f"{a['observations']} observed")
        if a["checks_evaluated"]:
            parts.append(f"checks failed {a['checks_failed']}/{a['checks_evaluated']}")
        if a["sla_breaches"]:
            parts.append(f"SLA breaches {len(a['sla_breaches'])}")
        lines.append(f"  {a['asset_key']:<32} " + ", ".join(parts))
    return lines


def _lineage_lines(report: dict[str, Any]) -> list[str]:
    lines = [report["asset_key"]]
    lines += [f"  upstream   {e['asset_key']} <- {e['depends_on']}" for e in report["upstream"]]
    lines += [f"  downstream {e['depends_on']} -> {e['asset_key']}" for e in report["downstream"]]
    columns = report["column_lineage"]
    if columns is None:
        lines.append("  no column lineage recorded (not materialized yet, or not traceable)")
        return lines
    lines.append(f"  column lineage recorded by run {report['column_lineage_run_id']}:")
    for column, deps in columns.items():
        sources = ", ".join(f"{d['asset_key']}.{d['column']}" for d in deps) or "(no source column)"
        lines.append(f"    {column} <- {sources}")
    return lines


def _optimize_lines(report: dict[str, Any]) -> list[str]:
    hours = report["window"]["hours"]
    if not report["recommendations"]:
        if not report["runs"]:
            return [f"no runs in the last {hours:g}h: nothing to optimize"]
        return [f"nothing to recommend from {report['runs']} runs in the last {hours:g}h"]
    return [f"{len(report['recommendations'])} recommendations from {report['runs']} runs in the last {hours:g}h:",
            *(f"  [{r['kind']}] {r['message']}" for r in report["recommendations"])]


LINES = {"status": _status_lines, "monitor": _monitor_lines, "lineage": _lineage_lines, "optimize": _optimize_lines}
