"""Lineage as a Mermaid flowchart: one subgraph per asset listing its columns, edges column to column."""

from __future__ import annotations

from .model import LineageView

FILLS = {False: "fill:#e7f0fa,stroke:#3b6ea5", True: "fill:#eef7ec,stroke:#3f8a3a"}  # discovered, transformation


def render_mermaid(view: LineageView) -> str:
    asset_ids, column_ids = view.node_ids()
    lines = ["flowchart LR"]
    for asset in view.assets:
        aid = asset_ids[asset.key]
        lines.append(f'  subgraph {aid}["{_label(asset.key)}"]')
        lines += [f'    {column_ids[(asset.key, c)]}["{_label(c)}"]' for c in asset.columns]
        lines.append("  end")
        lines.append(f"  style {aid} {FILLS[asset.transformation]}")
    for e in view.column_edges:
        lines.append(f"  {column_ids[(e.source, e.source_column)]} --> {column_ids[(e.target, e.target_column)]}")
    # Dotted: the target reads the source, but no column of it carries values over.
    lines += [f"  {asset_ids[s]} -.-> {asset_ids[t]}" for s, t in view.uncovered_table_edges()]
    return "\n".join(lines) + "\n"


def _label(text: str) -> str:
    """Text inside a quoted Mermaid label: `#` first, as every escape starts with it."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text
