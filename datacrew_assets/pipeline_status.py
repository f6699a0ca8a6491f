"""The tutorial's DataPipelineOrchestrationTool actions over a home's Dagster instance.

`status`, `monitor`, `lineage` and `optimize` (shared/reference/enterprise-team-patterns.md)
read only what the instance recorded (run records, materializations, observations, check
executions) and the asset graph of the home's definitions; a figure nobody recorded is
`null`, never estimated. `datacrew status` and the crew's `data_pipeline_orchestrator` tool
both answer with `PipelineStatus.report`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

import dagster as dg

from datacrew_resources.config import ConfigError, Home
from datacrew_resources.delegation.assignment import plan_pending
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.quality import band, quality_distribution

from .asset_graph import dependency_maps, walk
from .pipeline_records import RunFacts, asset_states, last_run, plain, run_facts, run_records_since

ACTIONS = ("status", "monitor", "lineage", "optimize")
DEFAULT_HOURS = 24.0
SLOWEST_SHOWN = 3
# The optimiser is exact; bounded here so a recommendation never waits on a huge queue.
DELEGATION_LIMIT = 1_000


def parse_hours(value: Any) -> float:
    """A window length in hours: a positive finite number."""
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise ConfigError("must be a number of hours", field="hours", value=value) from None
    if not math.isfinite(hours) or hours <= 0:
        raise ConfigError("must be a positive number of hours", field="hours", value=value)
    return hours


def spread(values: list[float]) -> dict[str, Any] | None:
    """Mean and nearest-rank 95th percentile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]
    return {"count": len(ordered), "mean": sum(ordered) / len(ordered), "p95": p95, "max": ordered[-1]}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class PipelineStatus:
    """The four actions over one home and one Dagster instance.

    `instance` defaults to `dg.DagsterInstance.get()` (the home's, once
    `prepare_environment` has set DAGSTER_HOME); inside a run, pass the run's own.
    Definitions are built on first use.
    """

    def __init__(self, home: Home, instance: dg.DagsterInstance | None = None,
                 defs: dg.Definitions | None = None):
        self.home = home
        self._instance = instance
        self._defs = defs

    @cached_property
    def instance(self) -> dg.DagsterInstance:
        return self._instance or dg.DagsterInstance.get()

    @cached_property
    def defs(self) -> dg.Definitions:
        # Imported here: the definitions' transformation assets hand this class to their crews.
        from .definitions import build_definitions

        return self._defs or build_definitions(self.home)

    @cached_property
    def graph(self):
        return self.defs.resolve_asset_graph()

    @cached_property
    def asset_keys(self) -> dict[str, dg.AssetKey]:
        return {k.to_user_string(): k for k in sorted(self.graph.get_all_asset_keys())}

    @cached_property
    def job_names(self) -> list[str]:
        """Jobs people launch; Dagster's implicit `__ASSET_JOB` is left out."""
        return sorted(j.name for j in self.defs.resolve_all_job_defs() if not j.name.startswith("__"))

    @cached_property
    def step_assets(self) -> dict[str, list[str]]:
        """Each executable op's step key -> the asset keys it materializes."""
        return {
            a.node_def.name: sorted(k.to_user_string() for k in a.keys)
            for a in self.graph.assets_defs if a.is_executable
        }

    def report(self, action: str, key: str | None = None, hours: Any = None) -> dict[str, Any]:
        """The JSON answer of one action; `ConfigError` naming the bad value on bad input."""
        key = key or None  # a model may send "" for "no key"
        if action not in ACTIONS:
            raise ConfigError(f"unknown action (one of {', '.join(ACTIONS)})", field="action", value=action)
        window = DEFAULT_HOURS if hours is None else parse_hours(hours)
        if hours is not None and action in ("status", "lineage"):
            raise ConfigError("only monitor and optimize take a window", field="hours", value=hours)
        if action == "status":
            return self.status(key)
        if action == "lineage":
            if not key:
                raise ConfigError("lineage needs an asset key", field="KEY", value=key)
            return self.lineage(key)
        if key:
            raise ConfigError(f"{action} takes no key", field="KEY", value=key)
        return self.monitor(window) if action == "monitor" else self.optimize(window)

    # -- status -------------------------------------------------------------------------

    def status(self, key: str | None = None) -> dict[str, Any]:
        """Last run of each job; per asset its latest materialization or observation,
        quality score and check results; the quality distribution over scored assets."""
        jobs, assets = self.job_names, list(self.asset_keys)
        if key is not None:
            if key in self.job_names:
                jobs, assets = [key], []
            elif key in self.asset_keys:
                jobs, assets = [], [key]
            else:
                raise self._unknown(key, "asset or job")
        job_rows = []
        for name in jobs:
            record = last_run(self.instance, name)
            facts = RunFacts(record.dagster_run.run_id, name, record.dagster_run.status.value,
                             record.start_time, record.end_time) if record else None
            job_rows.append({"job": name, "last_run": facts.summary() if facts else None})
        check_keys = [c for c in self.graph.asset_check_keys if c.asset_key.to_user_string() in assets]
        states = asset_states(self.instance, [self.asset_keys[a] for a in assets], check_keys)
        asset_rows = []
        for shown in assets:
            state = states[shown]
            score = state.quality_score
            asset_rows.append({
                "asset_key": shown,
                "kind": "transformation" if self.graph.get(self.asset_keys[shown]).is_materializable else "discovered",
                "last_materialization": state.materialization.to_dict() if state.materialization else None,
                "last_observation": state.observation.to_dict() if state.observation else None,
                "quality_score": score,
                "quality_band": None if score is None else band(score),
                "checks": state.checks,
            })
        scores = [row["quality_score"] for row in asset_rows if row["quality_score"] is not None]
        return {
            "action": "status",
            "runs_recorded": bool(self.instance.get_run_records(limit=1)),
            "jobs": job_rows,
            "assets": asset_rows,
            "quality_distribution": quality_distribution(scores),
        }

    # -- monitor ------------------------------------------------------------------------

    def window_facts(self, hours: float) -> tuple[dict[str, Any], list[RunFacts]]:
        since = datetime.now(timezone.utc) - timedelta(hours=hours)
        runs = [run_facts(self.instance, r, self.step_assets) for r in run_records_since(self.instance, since)]
        return {"hours": hours, "since": since.isoformat()}, runs

    def monitor(self, hours: float = DEFAULT_HOURS) -> dict[str, Any]:
        """Runs by status, failure rate and durations over the window, per job and overall;
        per asset the rows, timings, SLA figures and check failures its runs recorded."""
        window, runs = self.window_facts(hours)
        by_job: dict[str, list[RunFacts]] = defaultdict(list)
        for run in runs:
            by_job[run.job_name].append(run)
        assets = asset_figures(runs)
        rows = sum(a["rows_written"] for a in assets.values())
        timed = [a for a in assets.values() if a["latency_seconds"] is not None]
        latency_total = sum(a["latency_seconds"]["mean"] * a["latency_seconds"]["count"] for a in timed)
        checks = [c for run in runs for c in run.checks]
        return {
            "action": "monitor",
            "window": window,
            "runs": run_figures(runs),
            "jobs": [{"job": name, **run_figures(found)} for name, found in sorted(by_job.items())],
            "rows_written": rows,
            # Overall rows/s over the materializations whose latency was recorded.
            "throughput_rows_per_second": (
                sum(a["rows_timed"] for a in timed) / latency_total if latency_total else None
            ),
            "checks": {"evaluated": len(checks), "failed": sum(not c.passed for c in checks)},
            "sla_breaches": sum(len(a["sla_breaches"]) for a in assets.values()),
            "assets": [assets[k] for k in sorted(assets)],
        }

    # -- lineage ------------------------------------------------------------------------

    def lineage(self, key: str) -> dict[str, Any]:
        """Upstream and downstream edges from the asset graph, and the column lineage the
        last materialization recorded (`dagster/column_lineage`)."""
        parents, children = dependency_maps(self.defs)
        if key not in parents:
            raise self._unknown(key, "asset")
        columns, recorded_by = None, None
        event = self.instance.get_latest_materialization_event(self.asset_keys[key])
        if event is not None:
            lineage = plain(event.asset_materialization.metadata.get("dagster/column_lineage"))
            if lineage is not None:
                recorded_by = event.run_id
                columns = {
                    column: [{"asset_key": d.asset_key.to_user_string(), "column": d.column_name} for d in deps]
                    for column, deps in sorted(lineage.deps_by_column.items())
                }
        return {
            "action": "lineage",
            "asset_key": key,
            "upstream": [{"asset_key": child, "depends_on": parent} for child, parent in walk(key, parents)],
            "downstream": [{"asset_key": child, "depends_on": parent} for parent, child in walk(key, children)],
            "column_lineage": columns,
            "column_lineage_run_id": recorded_by,
        }

    # -- optimize -----------------------------------------------------------------------

    def optimize(self, hours: float = DEFAULT_HOURS) -> dict[str, Any]:
        """Recommendations from the window's records, each with the figures it rests on."""
        window, runs = self.window_facts(hours)
        assets = asset_figures(runs)
        recommendations = [
            *_slowest(assets),
            *_failing_assets(assets),
            *_failing_checks(runs),
            *_sla_breaches(assets),
            *_failing_jobs(runs),
            *self._delegation(),
        ]
        return {"action": "optimize", "window": window, "runs": len(runs), "recommendations": recommendations}

    def _delegation(self) -> list[dict[str, Any]]:
        """The delegation optimiser's plan for pending requests, when it would move any."""
        report = plan_pending(Delegation(self.home), DELEGATION_LIMIT).report()
        if not report["moves"]:
            return []
        c = report["comparison"]
        return [{
            "kind": "delegation",
            "subject": "pending delegation requests",
            "message": (f"retarget {len(report['moves'])} of {report['pending']} pending requests "
                        f"(`datacrew optimize --apply`): total specialisation match "
                        f"{c['total_match']['baseline']:g} -> {c['total_match']['optimal']:g}"),
            "evidence": {"pending": report["pending"], "moves": report["moves"], "comparison": c},
        }]

    def _unknown(self, key: str, what: str) -> ConfigError:
        known = [*self.asset_keys, *self.job_names] if what != "asset" else list(self.asset_keys)
        shown = ", ".join(known[:12]) + (f", ... ({len(known)} in all)" if len(known) > 12 else "")
        return ConfigError(f"no such {what} (known: {shown})", field="KEY", value=key)


def run_figures(runs: list[RunFacts]) -> dict[str, Any]:
    """Counts by status, failure rate over finished runs, durations of finished runs."""
    statuses = Counter(run.status for run in runs)
    finished = [run for run in runs if run.finished]
    return {
        "total": len(runs),
        "by_status": dict(sorted(statuses.items())),
        "failure_rate": _rate(statuses.get(dg.DagsterRunStatus.FAILURE.value, 0), len(finished)),
        "duration_seconds": spread([run.duration for run in finished if run.duration is not None]),
    }


def asset_figures(runs: list[RunFacts]) -> dict[str, dict[str, Any]]:
    """Per asset over `runs`: step outcomes and seconds, rows written, observations, the SLA figures its
    materializations recorded (`datacrew/latency_seconds`, `datacrew/throughput_rows_per_second`,
    `datacrew/error_rate`, `datacrew/sla_breaches`) and its check results."""
    seen: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for key, seconds in run.step_seconds.items():
            seen[key]["step_seconds"].append(seconds)
        for key in run.failed_assets:
            seen[key]["failures"].append(run.run_id)
        for m in run.materializations:
            facts = seen[m.asset_key]
            facts["materializations"].append(m)
            facts["sla_breaches"] += [{**b, "run_id": m.run_id} for b in plain(m.metadata.get("datacrew/sla_breaches")) or []]
        for o in run.observations:
            seen[o.asset_key]["observations"].append(o)
        for check in run.checks:
            seen[check.asset_key]["checks"].append(check)
    figures = {}
    for key, facts in seen.items():
        materialized = facts["materializations"]
        timed = [m for m in materialized if m.figure("datacrew/latency_seconds") is not None]
        attempts = len(facts["step_seconds"]) + len(facts["failures"])
        throughputs = [t for m in materialized if (t := m.figure("datacrew/throughput_rows_per_second")) is not None]
        errors = [e for m in materialized if (e := m.figure("datacrew/error_rate")) is not None]
        figures[key] = {
            "asset_key": key,
            "materializations": len(materialized),
            "observations": len(facts["observations"]),
            "step_attempts": attempts,
            "step_failures": len(facts["failures"]),
            "failure_rate": _rate(len(facts["failures"]), attempts),
            "failed_runs": facts["failures"],
            "rows_written": int(sum(m.figure("dagster/row_count") or 0 for m in materialized)),
            "rows_timed": int(sum(m.figure("dagster/row_count") or 0 for m in timed)),
            "step_seconds": spread(facts["step_seconds"]),
            "latency_seconds": spread([m.figure("datacrew/latency_seconds") for m in timed]),
            "throughput_rows_per_second": sum(throughputs) / len(throughputs) if throughputs else None,
            "error_rate": sum(errors) / len(errors) if errors else None,
            "sla_breaches": facts["sla_breaches"],
            "checks_evaluated": len(facts["checks"]),
            "checks_failed": sum(not c.passed for c in facts["checks"]),
        }
    return figures


def _duration(figures: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The asset's recorded latency when it has one, else its step time."""
    if figures["latency_seconds"]:
        return "latency_seconds", figures["latency_seconds"]
    if figures["step_seconds"]:
        return "step_seconds", figures["step_seconds"]
    return None


def _slowest(assets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    timed = [(key, *found) for key, figures in assets.items() if (found := _duration(figures))]
    total = sum(s["mean"] * s["count"] for _, _, s in timed)
    ranked = sorted(timed, key=lambda t: (-t[2]["mean"], t[0]))[:SLOWEST_SHOWN]
    found = []
    for rank, (key, measure, s) in enumerate(ranked, start=1):
        share = s["mean"] * s["count"] / total if total else None
        found.append({
            "kind": "slow_asset",
            "subject": key,
            "message": (f"{key} is the {'slowest' if rank == 1 else f'#{rank} slowest'} asset: {measure} mean "
                        f"{s['mean']:.3f}s, p95 {s['p95']:.3f}s over {s['count']} run{'s' if s['count'] > 1 else ''}"
                        + (f", {share:.0%} of all asset time" if share is not None else "")
                        + "; start tuning here (its sources, rules and output format)"),
            "evidence": {"rank": rank, "measure": measure, **s, "share_of_time": share},
        })
    return found


def _failing_assets(assets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    failing = sorted((f for f in assets.values() if f["step_failures"]), key=lambda f: (-f["failure_rate"], f["asset_key"]))
    return [{
        "kind": "failing_asset",
        "subject": f["asset_key"],
        "message": (f"{f['asset_key']} failed {f['step_failures']} of {f['step_attempts']} attempts "
                    f"({f['failure_rate']:.0%}); see run {f['failed_runs'][0]}"),
        "evidence": {k: f[k] for k in ("step_attempts", "step_failures", "failure_rate", "failed_runs")},
    } for f in failing]


def _failing_checks(runs: list[RunFacts]) -> list[dict[str, Any]]:
    results = defaultdict(list)
    for run in runs:
        for check in run.checks:
            results[(check.asset_key, check.name)].append(check)
    found = []
    for (asset, name), checks in sorted(results.items()):
        failed = [c for c in checks if not c.passed]
        if not failed:
            continue
        latest = max(checks, key=lambda c: c.timestamp)
        figure = "" if latest.value is None else f"; latest {latest.value:.4f} against threshold {latest.threshold}"
        found.append({
            "kind": "failing_check",
            "subject": f"{asset}:{name}",
            "message": f"{asset} check {name} failed {len(failed)} of {len(checks)} evaluations{figure}",
            "evidence": {"evaluations": len(checks), "failures": len(failed), "latest_passed": latest.passed,
                         "latest_value": latest.value, "threshold": latest.threshold, "severity": latest.severity},
        })
    return found


def _sla_breaches(assets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for key in sorted(assets):
        by_metric = defaultdict(list)
        for breach in assets[key]["sla_breaches"]:
            by_metric[breach["metric"]].append(breach)
        for metric, breaches in sorted(by_metric.items()):
            # Throughput breaches fall short of a floor; the others exceed a ceiling.
            worst = (min if metric == "throughput_rows_per_second" else max)(breaches, key=lambda b: b["value"])
            found.append({
                "kind": "sla_breach",
                "subject": f"{key}:{metric}",
                "message": (f"{key} breached its {metric} SLA in {len(breaches)} runs; worst {worst['value']:g} "
                            f"against limit {worst['limit']:g} (run {worst['run_id']})"),
                "evidence": {"breaches": len(breaches), "worst": worst["value"], "limit": worst["limit"],
                             "runs": [b["run_id"] for b in breaches]},
            })
    return found


def _failing_jobs(runs: list[RunFacts]) -> list[dict[str, Any]]:
    by_job = defaultdict(list)
    for run in runs:
        by_job[run.job_name].append(run)
    found = []
    for job, found_runs in sorted(by_job.items()):
        figures = run_figures(found_runs)
        failed = figures["by_status"].get(dg.DagsterRunStatus.FAILURE.value, 0)
        if failed:
            finished = sum(1 for r in found_runs if r.finished)
            found.append({
                "kind": "failing_job",
                "subject": job,
                "message": f"job {job} failed {failed} of {finished} finished runs ({figures['failure_rate']:.0%})",
                "evidence": {"finished_runs": finished, "failed_runs": failed, "failure_rate": figures["failure_rate"]},
            })
    return found

