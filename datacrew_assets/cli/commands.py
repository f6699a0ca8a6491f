"""One function per `datacrew` command; each returns the process exit code."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.ranking import search
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, ConfigErrors, Home
from datacrew_resources.demo import build_demo_sources
from datacrew_resources.demo_home import install_templates

from ..definitions import build_definitions
from ..runs import CheckOutcome, RunReport, materialize, resolve_selection, transformation_keys
from .lineage import ColumnGraph, column_report, column_report_lines, dependency_maps, walk
from . import delegation
from .output import emit
from .validation import validate_home


def run(args: argparse.Namespace, home: Home) -> int:
    handler = {
        "demo": demo,
        "validate": validate,
        "discover": discover_command,
        "search": search_command,
        "materialize": materialize_command,
        "lineage": lineage_command,
        "requests": delegation.requests_command,
        "agents": delegation.agents_command,
        "optimize": delegation.optimize_command,
    }[args.command]
    return handler(args, home)


def demo(args: argparse.Namespace, home: Home) -> int:
    started = time.perf_counter()
    install_templates(home)
    build_demo_sources(home.root)
    discovered = discover(home, home.load_config())
    validate_home(home)
    report = materialize(home)
    seconds = time.perf_counter() - started
    lines = [f"datacrew demo: home {home.root}", f"  discovered {len(discovered.records)} datasets"]
    lines += _report_lines(report)
    lines += [
        f"  wall time {seconds:.1f}s",
        "open the UI:",
        f"  DATACREW_HOME={home.root} DAGSTER_HOME={home.dagster_home} dagster dev",
    ]
    payload = {"home": str(home.root), "seconds": seconds, "run_id": report.run_id, "assets": [a.to_dict() for a in report.assets]}
    emit(args, payload, lines)
    return 0 if report.ok else 1


def validate(args: argparse.Namespace, home: Home) -> int:
    checked = validate_home(home)
    emit(args, {"ok": True, "specs": checked}, [f"ok: datacrew.yaml and {len(checked)} specs are valid"])
    return 0


def discover_command(args: argparse.Namespace, home: Home) -> int:
    result = discover(home, home.load_config())
    datasets = [_dataset_json(r) for r in result.records]
    lines = [f"{d['asset_key']:<32} {d['record_count']:>10,} rows  {len(d['schema']):>3} columns  quality {d['quality_score']}" for d in datasets]
    emit(args, {"datasets": datasets}, lines or ["no datasets found"])
    return 0


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
    }


def search_command(args: argparse.Namespace, home: Home) -> int:
    home.load_config()
    ranked = search(CatalogStore(home.catalog_path).all(), args.query, limit=args.limit)
    payload = [
        {
            **_dataset_json(hit.record),
            "composite_score": hit.score,
            "relevance_score": hit.relevance,
            "freshness_score": hit.freshness,
            "schema_completeness": hit.schema_completeness,
            "source_weight": hit.source_weight,
        }
        for hit in ranked
    ]
    lines = [f"{hit.score:6.3f}  {hit.record.key_string}" for hit in ranked]
    emit(args, {"query": args.query, "results": payload}, lines or ["no match"])
    return 0


def materialize_command(args: argparse.Namespace, home: Home) -> int:
    if args.all == bool(args.names):
        raise ConfigErrors([ConfigError("name assets to materialize, or pass --all (not both)", field="arguments")])
    keys = transformation_keys(home) if args.all else resolve_selection(home, args.names)
    validate_home(home)
    report = materialize(home, keys, partition_key=args.partition)
    emit(args, {"run_id": report.run_id, "assets": [a.to_dict() for a in report.assets]}, _report_lines(report))
    return 0 if report.ok else 1


def _report_lines(report: RunReport) -> list[str]:
    lines = []
    warnings = []
    for asset in report.assets:
        if asset.status == "materialized":
            detail = (
                f"{asset.record_count:>9,} rows  crew {asset.crew_seconds:.2f}s"
                f" tools {asset.tool_seconds:.2f}s engine {asset.engine_seconds:.2f}s"
            )
        else:
            detail = asset.error or ""
        checks = "  ".join(_check_text(c) for c in sorted(asset.checks, key=lambda c: c.name))
        lines.append(f"  {asset.asset_key:<32} {asset.status:<12} {detail}  {checks}")
        warnings += [f"  {asset.asset_key} {_failure_text(c)}" for c in asset.checks if not c.passed]
    if warnings:
        lines += ["failing checks:", *warnings]
    lines.append(f"  run {report.run_id}: {'ok' if report.ok else 'FAILED'}")
    return lines


def _check_text(check: CheckOutcome) -> str:
    if check.value is None:
        return f"{check.name} ERROR"
    return f"{check.name} {'ok' if check.passed else 'FAIL'} {check.value:.3f}"


def _failure_text(check: CheckOutcome) -> str:
    kind = "blocking" if check.severity == "ERROR" else "warning"
    if check.value is None:
        return f"{check.name}: {check.error} ({kind})"
    return f"{check.name} {check.value:.4f} < {check.threshold} ({kind})"


def lineage_command(args: argparse.Namespace, home: Home) -> int:
    as_json = args.format == "json" or args.json
    if args.columns:
        # Neither direction: the key's columns both ways; --upstream adds its ancestors.
        report = column_report(ColumnGraph(home), args.key, upstream=not args.downstream,
                               ancestors=args.upstream, downstream=not args.upstream)
        print(json.dumps(report, indent=2) if as_json else "\n".join(column_report_lines(report)))
        return 0
    defs = build_definitions(home)
    parents, children = dependency_maps(defs)
    key = args.key
    if key not in parents:
        raise ConfigErrors([ConfigError(f"no such asset (known: {', '.join(sorted(parents))})", field="KEY", value=args.key)])
    upstream = [] if args.downstream else walk(key, parents)
    downstream = [] if args.upstream else walk(key, children)
    payload = {
        "asset_key": key,
        "upstream": [{"asset_key": child, "depends_on": parent} for child, parent in upstream],
        "downstream": [{"asset_key": child, "depends_on": parent} for parent, child in downstream],
    }
    lines = [key]
    lines += [f"  upstream   {child} <- {parent}" for child, parent in upstream]
    lines += [f"  downstream {parent} -> {child}" for parent, child in downstream]
    print(json.dumps(payload, indent=2) if args.format == "json" or args.json else "\n".join(lines))
    return 0
