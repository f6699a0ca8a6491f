"""Lineage as Graphviz DOT: an HTML-like table per asset with a port per column, edges port to port."""

from __future__ import annotations

from html import escape

from .model import LineageView

HEADER_COLOURS = {False: "#cfe0f3", True: "#d7ecd3"}  # discovered, transformation


def render_dot(view: LineageView) -> str:
    asset_ids, column_ids = view.node_ids()
    lines = [
        "digraph lineage {",
        '  graph [rankdir=LR, nodesep=0.4, ranksep=1.2, fontname="Helvetica"];',
        '  node [shape=plaintext, fontname="Helvetica", fontsize=11];',
        '  edge [color="#5b6b7f", arrowsize=0.6];',
    ]
    for asset in view.assets:
        rows = [f'<TR><TD BGCOLOR="{HEADER_COLOURS[asset.transformation]}"><B>{escape(asset.key)}</B></TD></TR>']
        rows += [f'<TR><TD PORT="{_port(column_ids[(asset.key, c)])}" ALIGN="LEFT">{escape(c)}</TD></TR>'
                 for c in asset.columns]
        table = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">' + "".join(rows) + "</TABLE>"
        lines.append(f"  {asset_ids[asset.key]} [label=<{table}>];")
    for e in view.column_edges:
        source, target = column_ids[(e.source, e.source_column)], column_ids[(e.target, e.target_column)]
        lines.append(f'  {asset_ids[e.source]}:{_port(source)}:e -> {asset_ids[e.target]}:{_port(target)}:w'
                     f' [tooltip="{e.kind}"];')
    # Dashed: the target reads the source, but no column of it carries values over.
    lines += [f"  {asset_ids[s]} -> {asset_ids[t]} [style=dashed];" for s, t in view.uncovered_table_edges()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _port(column_id: str) -> str:
    """`a3_c1` -> `c1`: ports are per node, so the column's index is enough."""
    return column_id.rsplit("_", 1)[1]
