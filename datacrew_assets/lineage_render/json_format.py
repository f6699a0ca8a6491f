"""Lineage as JSON: `nodes` (assets with columns) and `edges` (table and column edges)."""

from __future__ import annotations

import json

from .model import LineageView


def render_json(view: LineageView) -> str:
    nodes = [
        {"asset_key": a.key, "kind": "transformation" if a.transformation else "discovered",
         "depth": a.depth, "columns": list(a.columns)}
        for a in view.assets
    ]
    edges = [{"type": "table", "from": source, "to": target} for source, target in view.table_edges]
    edges += [
        {"type": "column", "from": {"asset_key": e.source, "column": e.source_column},
         "to": {"asset_key": e.target, "column": e.target_column}, "kind": e.kind}
        for e in view.column_edges
    ]
    return json.dumps({"root": view.root, "nodes": nodes, "edges": edges}, indent=2)
