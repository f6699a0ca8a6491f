"""One function per `datacrew` command; each returns the process exit code."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import dagster as dg

from datacrew_resources.alerts import Alert, WebhookSink, alerts_log_path
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.governance import governance_json
from datacrew_resources.catalog.ranking import SearchFilters, SearchResponse
from datacrew_resources.catalog.search import search
from datacrew_resources.config import ConfigError, ConfigErrors, Home
from datacrew_resources.config.alerts import AlertsConfig
from datacrew_resources.demo import build_demo_sources
from datacrew_resources.demo_home import install_templates

from ..alerts import alert_run_outcomes
from ..runs import CheckOutcome, RunReport, check_datasets, materialize, resolve_selection, transformation_keys
from .instance import instance_command
from .lineage import lineage_command
from . import catalog, delegation
from .output import emit
from .validation import validate_home
from .status import status_command


def run(args: argparse.Namespace, home: Home) -> int:
    handler = {
        "demo": demo,
        "validate": validate,
        "discover": discover_command,
        "search": search_command,
        "catalog": catalog.catalog_command,
        "materialize": materialize_command,
        "lineage": lineage_command,
        "requests": delegation.requests_command,
        "agents": delegation.agents_command,
        "optimize": delegation.optimize_command,
        "status": status_command,
        "instance": instance_command,
    }[args.command]
    return handler(args, home)


def demo(args: argparse.Namespace, home: Home) -> int:
    started = time.perf_counter()
    install_templates(home)
    build_demo_sources(home.root)
    config = home.load_config()
    discovered = discover(home, config)
    validate_home(home)
    transformed = materialize(home)
    # The transformation run checks only the datasets it reads; one quality-monitor pass
    # checks them all, the share's dirty delay reports among them.
    monitored = check_datasets(home)
    report = _with_monitor_pass(transformed, monitored)
    # What the alert sensor does once the daemon runs, done now so the demo's alerts are real;
    # the shared dedupe table keeps a repeated incident to one alert either way.
    instance = dg.DagsterInstance.get()
    alerts = [
        alert
        for run_id in (transformed.run_id, monitored.run_id)
        for alert in alert_run_outcomes(instance, run_id, home=home, config=config.alerts)
    ]
    seconds = time.perf_counter() - started
    lines = [f"datacrew demo: home {home.root}", f"  discovered {len(discovered.records)} datasets"]
    runs = f"{transformed.run_id} (transformations) and {monitored.run_id} (quality monitor)"
    lines += _report_lines(report, runs=runs)
    lines += _alert_lines(alerts, _alert_destinations(home, config.alerts), config.alerts.dedupe_window_minutes)
    lines += [
        f"  wall time {seconds:.1f}s",
        "open the UI:",
        f"  DATACREW_HOME={home.root} DAGSTER_HOME={home.dagster_home} dagster dev",
    ]
    payload = {
        "home": str(home.root),
        "seconds": seconds,
        "run_id": transformed.run_id,
        "monitor_run_id": monitored.run_id,
        "assets": [a.to_dict() for a in report.assets],
        "datasets": [d.to_dict() for d in report.datasets],
        "warnings": [_warning_json(key, check) for key, check in report.failing_checks if not check.blocking_failure],
        "alerts": {
            "sent_to": _alert_destinations(home, config.alerts),
            "sent": [_alert_json(a) for a in alerts],
        },
    }
    emit(args, payload, lines)
    # Warnings leave the demo successful; a blocking failure does not.
    return 0 if report.ok else 1


def _with_monitor_pass(transformed: RunReport, monitored: RunReport) -> RunReport:
    """The transformation run's report, each dataset's checks as the later monitor pass found them."""
    datasets = {d.asset_key: d for d in [*transformed.datasets, *monitored.datasets]}
    return RunReport(
        run_id=transformed.run_id,
        run_succeeded=transformed.run_succeeded and monitored.run_succeeded,
        assets=transformed.assets,
        datasets=[datasets[key] for key in sorted(datasets)],
    )


def _alert_destinations(home: Home, config: AlertsConfig) -> list[str]:
    """Where alerts go: the JSONL log's path, the webhook's host (its path is a secret)."""
    where = [str(alerts_log_path(home))] if config.jsonl else []
    url = config.webhook()
    return where + ([f"webhook {WebhookSink(url).where}"] if url else [])


def _alert_lines(alerts: list[Alert], destinations: list[str], window_minutes: int) -> list[str]:
    to = ", ".join(destinations) or "no sink (alerts.jsonl is off and no webhook is set)"
    if not alerts:
        return [f"alerts: none sent (an incident alerted in the last {window_minutes} min is not sent again); sinks: {to}"]
    lines = [f"alerts: {len(alerts)} sent to {to}"]
    lines += [f"  [{a.severity}] {a.kind}: {a.title}" for a in alerts]
    return lines


def _alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
        "asset_key": alert.asset_key,
        "check_name": alert.check_name,
        "metric": alert.metric,
        "incident_key": alert.incident_key,
    }


def validate(args: argparse.Namespace, home: Home) -> int:
    checked = validate_home(home)
    emit(args, {"ok": True, "specs": checked}, [f"ok: datacrew.yaml and {len(checked)} specs are valid"])
    return 0


PARTIAL_SCAN = 3  # exit code: some sources or datasets could not be scanned; the rest were written


def discover_command(args: argparse.Namespace, home: Home) -> int:
    result = discover(home, home.load_config())
    datasets = [_dataset_json(r) for r in result.records]
    lines = [f"{d['asset_key']:<32} {d['record_count']:>10,} rows  {len(d['schema']):>3} columns  quality {d['quality_score']}" for d in datasets]
    if not lines and not result.partial:
        lines = ["no datasets found"]
    if result.partial:
        lines.append(f"partial scan: {len(result.errors)} error(s); the previous catalog entries of what failed are kept")
        lines += [f"error {_scan_error_where(e)}: {e.message}" for e in result.errors]
    errors = [{"source": e.source, "dataset": e.dataset, "message": e.message} for e in result.errors]
    emit(args, {"datasets": datasets, "errors": errors}, lines)
    return PARTIAL_SCAN if result.partial else 0


def _scan_error_where(error: Any) -> str:
    return f"{error.source}/{error.dataset}" if error.dataset else error.source


def _dataset_json(record: Any) -> dict[str, Any]:
    return {
        "dataset_name": record.dataset_name,
        "asset_key": record.key_string,
        "source": record.source,
        "source_type": record.source_type.value,
        "record_count": record.record_count,
        "schema": [{"name": c.name, "type": c.type, "nullable": c.nullable} for c in record.columns],
        "partition_keys": record.partition_keys,
        "format": record.format,
        "uri": record.location,
        "quality_score": record.quality_score,
        "last_updated": record.last_updated.isoformat(),
        **governance_json(record),
    }


def search_command(args: argparse.Namespace, home: Home) -> int:
    home.load_config()
    try:
        response = search(
            home,
            args.query,
            max_results=_option_number(args.max_results, int, "max_results"),
            source_types=_option_list(args.source_types),
            quality_threshold=_option_number(args.quality_threshold, float, "quality_threshold"),
            data_domains=_option_list(args.data_domains),
            freshness_requirement=args.freshness_requirement,
        )
    except ConfigError as e:  # the search names its parameter; the user typed the option
        if e.field not in SearchFilters.__dataclass_fields__:
            raise
        raise ConfigError(e.problem, field=_option(e.field), value=e.value) from None
    payload = {
        "query": response.query,
        "filters": response.filters.to_json(),
        "total_datasets_found": response.total_datasets_found,
        "datasets_returned": response.datasets_returned,
        "discovery_timestamp": response.ranked_at.isoformat(),
        "from_cache": response.from_cache,
        "results": [
            {
                **_dataset_json(hit.record),
                "domain": hit.domain,
                "composite_score": hit.score,
                "relevance_score": hit.relevance,
                "freshness_score": hit.freshness,
                "schema_completeness": hit.schema_completeness,
                "source_weight": hit.source_weight,
            }
            for hit in response.hits
        ],
        "aggregation_metadata": response.aggregation_metadata(),
    }
    emit(args, payload, _search_lines(response))
    return 0


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _option_number(text: str, kind: type, field: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        problem = "must be a whole number" if kind is int else "must be a number"
        raise ConfigError(problem, field=field, value=text) from None


def _option_list(values: list[str]) -> list[str]:
    """Repeated and comma-separated option values, in order."""
    return [item.strip() for value in values for item in value.split(",")]


def _search_lines(response: SearchResponse) -> list[str]:
    if not response.hits:
        return ["no match"]
    lines = [
        f"{hit.score:6.3f}  {hit.record.key_string:<32} quality {hit.quality:.2f}  relevance {hit.relevance:.2f}"
        f"  freshness {hit.freshness:.2f}  {hit.domain}"
        for hit in response.hits
    ]
    found = f"{response.datasets_returned} of {response.total_datasets_found} found"
    cached = " (cached)" if response.from_cache else ""
    return [
        *lines,
        f"{found}{cached}; domains: {_counts(response.domain_distribution)};"
        f" sources: {_counts(response.source_distribution)}; quality: {_counts(response.quality_distribution)}",
    ]


def _counts(distribution: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in distribution.items())


def materialize_command(args: argparse.Namespace, home: Home) -> int:
    if args.all == bool(args.names):
        raise ConfigErrors([ConfigError("name assets to materialize, or pass --all (not both)", field="arguments")])
    keys = transformation_keys(home) if args.all else resolve_selection(home, args.names)
    validate_home(home)
    report = materialize(home, keys, partition_key=args.partition)
    emit(args, {"run_id": report.run_id, "assets": [a.to_dict() for a in report.assets]}, _report_lines(report))
    return 0 if report.ok else 1


def _report_lines(report: RunReport, *, runs: str | None = None) -> list[str]:
    """Assets, datasets checked, failing checks with a sample row each, and the verdict of `runs` (default: the report's run)."""
    lines = []
    for asset in report.assets:
        if asset.status == "materialized":
            detail = (
                f"{asset.record_count:>9,} rows  crew {asset.crew_seconds:.2f}s"
                f" tools {asset.tool_seconds:.2f}s engine {asset.engine_seconds:.2f}s"
            )
        else:
            detail = asset.error or ""
        lines.append(f"  {asset.asset_key:<32} {asset.status:<12} {detail}  {_checks_text(asset.checks)}")
    if report.datasets:
        lines.append("discovered datasets checked:")
        lines += [f"  {d.asset_key:<32} {_checks_text(d.checks)}" for d in report.datasets]
    failing = report.failing_checks
    if failing:
        lines.append("failing checks:")
        for key, check in failing:
            lines.append(f"  {key} {_failure_text(check)}")
            if check.sample_failing_rows:
                lines.append(f"    sample failing row: {json.dumps(check.sample_failing_rows[0], default=str)}")
    warnings = sum(1 for _, check in failing if not check.blocking_failure)
    noted = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
    lines.append(f"  run {runs or report.run_id}: {'ok' if report.ok else 'FAILED'}{noted}")
    return lines


def _checks_text(checks: list[CheckOutcome]) -> str:
    return "  ".join(_check_text(c) for c in sorted(checks, key=lambda c: c.name))


def _warning_json(asset_key: str, check: CheckOutcome) -> dict[str, Any]:
    return {
        "asset_key": asset_key,
        "check_name": check.name,
        "value": check.value,
        "threshold": check.threshold,
        "severity": check.severity,
        "sample_failing_row": check.sample_failing_rows[0] if check.sample_failing_rows else None,
    }


def _check_text(check: CheckOutcome) -> str:
    if check.value is None:
        return f"{check.name} ERROR"
    return f"{check.name} {'ok' if check.passed else 'FAIL'} {check.value:.3f}"


def _failure_text(check: CheckOutcome) -> str:
    kind = "blocking" if check.severity == "ERROR" else "warning"
    if check.value is None:
        return f"{check.name}: {check.error} ({kind})"
    # Figure and threshold side by side: for some checks (row_count_anomaly) higher is worse.
    threshold = "" if check.threshold is None else f" vs threshold {check.threshold:g}"
    return f"{check.name} {check.value:.4f}{threshold} ({kind})"
