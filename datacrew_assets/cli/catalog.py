"""`datacrew catalog history KEY`: what discovery recorded for one dataset, scan by scan.

Each scan that changed the dataset's record left one history row: its row
count, its schema and, when the schema differs from the one before, what
changed (columns added, removed, retyped, nullability flipped). The errors
of the latest scan that could not read the dataset follow.
"""

from __future__ import annotations

import argparse
from typing import Any

from datacrew_resources.catalog.store import CatalogStore, ScanEntry
from datacrew_resources.config import ConfigError, Home

from .output import emit


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    catalog = sub.add_parser("catalog", parents=[common], help="what the catalog store recorded: history KEY")
    actions = catalog.add_subparsers(dest="catalog_action", required=True)
    history = actions.add_parser(
        "history", parents=[common],
        help="every scan that changed a dataset: row count, schema and schema change (drift)",
    )
    history.add_argument("key", metavar="KEY", help="a discovered dataset, as source/dataset")


def catalog_command(args: argparse.Namespace, home: Home) -> int:
    home.load_config()
    store = CatalogStore.for_home(home)
    scans = store.history(args.key)
    if not scans and store.get(args.key) is None:
        raise ConfigError("no such dataset in the catalog (see `datacrew discover`)", field="KEY", value=args.key)
    errors = [e for e in store.errors() if f"{e.error.source}/{e.error.dataset}" == args.key]
    payload = {
        "asset_key": args.key,
        "scans": [_scan_json(entry) for entry in scans],
        "errors": [{"recorded_at": e.recorded_at.isoformat(), "message": e.error.message} for e in errors],
    }
    lines = [f"{args.key}: {len(scans)} recorded scan(s), each one that changed the record"]
    for index, entry in enumerate(scans):
        before = scans[index - 1] if index else None
        lines.append(
            f"  {entry.scanned_at.isoformat(timespec='seconds')}  {entry.record_count:>12,} rows"
            f"  schema {entry.schema_hash}  {_what_changed(before, entry)}"
        )
        if entry.columns is not None and (before is None or before.schema_hash != entry.schema_hash):
            lines.append(f"    columns: {', '.join(_column_text(c) for c in entry.columns)}")
    lines += [
        f"error in the latest scan ({e.recorded_at.isoformat(timespec='seconds')}): {e.error.message}" for e in errors
    ]
    emit(args, payload, lines)
    return 0


def _scan_json(entry: ScanEntry) -> dict[str, Any]:
    return {
        "scanned_at": entry.scanned_at.isoformat(),
        "record_count": entry.record_count,
        "schema_hash": entry.schema_hash,
        "schema": None if entry.columns is None else [
            {"name": name, "type": type_, "nullable": nullable} for name, type_, nullable in entry.columns
        ],
        "schema_change": entry.schema_change,
    }


def _what_changed(before: ScanEntry | None, entry: ScanEntry) -> str:
    if before is None:
        return "first scan"
    if before.schema_hash == entry.schema_hash:
        return "same schema"
    change = entry.schema_change
    if change is None:
        return "schema changed (not recorded: scanned before the catalog kept schemas)"
    parts = [f"added {', '.join(change['added'])}" if change["added"] else ""]
    parts.append(f"removed {', '.join(change['removed'])}" if change["removed"] else "")
    parts += [f"retyped {r['column']} {r['from']} -> {r['to']}" for r in change["retyped"]]
    parts += [
        f"{n['column']} now {'nullable' if n['to'] else 'not null'}" for n in change.get("nullability", [])
    ]
    return "; ".join(p for p in parts if p)


def _column_text(column: tuple[str, str, bool]) -> str:
    name, type_, nullable = column
    return f"{name} {type_}" + ("" if nullable else " NOT NULL")
