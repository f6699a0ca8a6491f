"""Table and column lineage drawn for people: Mermaid, Graphviz DOT, JSON and a self-contained HTML page."""

from __future__ import annotations

from .dot import render_dot
from .html import render_html
from .json_format import render_json
from .mermaid import render_mermaid
from .model import AssetNode, ColumnEdge, LineageView

RENDERERS = {"mermaid": render_mermaid, "dot": render_dot, "json": render_json, "html": render_html}

__all__ = ["RENDERERS", "AssetNode", "ColumnEdge", "LineageView",
           "render_dot", "render_html", "render_json", "render_mermaid"]
