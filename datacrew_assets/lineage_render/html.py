"""Lineage as one self-contained HTML page: an SVG drawn here, with inline CSS and a little JS.

Layout: assets in columns by depth (discovered datasets on the left), each asset a box
with one row per column, column edges as curves from row to row. Hovering a column
lights its upstream and downstream columns; clicking pins that. Nothing is fetched:
the page works offline and from a file. Browser tests find elements by the stable
`data-asset` / `data-column` attributes and the `asset`, `column`, `column-edge` classes.
"""

from __future__ import annotations

from html import escape

from .model import AssetNode, LineageView

CHAR_WIDTH, ROW_HEIGHT, HEADER_HEIGHT = 7.3, 22, 28  # 12px monospace
GAP_X, GAP_Y, MARGIN = 110, 26, 20


def render_html(view: LineageView) -> str:
    layout = _Layout(view)
    title = f"Lineage of {view.root}" if view.root else "Lineage of every asset"
    svg = [f'<svg id="lineage" width="{layout.width:.0f}" height="{layout.height:.0f}" '
           f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}">']
    svg += _edges(view, layout)
    _, column_ids = view.node_ids()
    svg += [_asset(asset, layout, column_ids) for asset in view.assets]
    svg.append("</svg>")
    counts = (f"{len(view.assets)} assets, {sum(len(a.columns) for a in view.assets)} columns, "
              f"{len(view.column_edges)} column edges")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="summary">{counts}. Hover a column to see where it comes from and where it goes; '
        "click to pin, click the background to clear.</p>",
        '<p id="lineage-status" class="status"></p>',
        '<div class="canvas">', *svg, "</div>",
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]) + "\n"


class _Layout:
    """Box positions: x by depth; y stacked, each depth ordered by barycentre (next to its
    neighbours in the depth beside it), so edges cross less."""

    def __init__(self, view: LineageView):
        longest = max([len(a.key) for a in view.assets] + [len(c) + 2 for a in view.assets for c in a.columns] + [12])
        self.box_width = longest * CHAR_WIDTH + 24
        self.position: dict[str, tuple[float, float]] = {}
        self._heights = {a.key: _height(a) for a in view.assets}
        sources: dict[str, list[str]] = {}
        readers: dict[str, list[str]] = {}
        for source, target in view.table_edges:
            sources.setdefault(target, []).append(source)
            readers.setdefault(source, []).append(target)
        depths = sorted({a.depth for a in view.assets})
        columns = {d: [a for a in view.assets if a.depth == d] for d in depths}
        self._place(columns)
        # One sweep left to right (next to what they read), one right to left (discovered
        # datasets next to what reads them), and left to right again, where each box also
        # moves down level with its sources when there is room.
        for depth, neighbours in [*((d, sources) for d in depths[1:]), *((d, readers) for d in depths[-2::-1])]:
            columns[depth].sort(key=lambda a: (self._mean_y(neighbours.get(a.key, [])), a.key))
            self._place(columns)
        for depth in depths[1:]:
            columns[depth].sort(key=lambda a: (self._mean_y(sources.get(a.key, [])), a.key))
            self._place(columns, level_with=sources)
        count = max(depths, default=0) + 1
        self.width = 2 * MARGIN + count * self.box_width + (count - 1) * GAP_X
        self.height = max((self.position[k][1] + h for k, h in self._heights.items()), default=0) + MARGIN

    def _place(self, columns: dict[int, list[AssetNode]], level_with: dict[str, list[str]] | None = None) -> None:
        for depth, assets in sorted(columns.items()):
            x, y = MARGIN + depth * (self.box_width + GAP_X), MARGIN
            for asset in assets:
                if level_with and depth > 0:
                    y = max(y, self._mean_y(level_with.get(asset.key, [])) - self._heights[asset.key] / 2)
                self.position[asset.key] = (x, y)
                y += self._heights[asset.key] + GAP_Y

    def _mean_y(self, keys: list[str]) -> float:
        """Mean middle of the boxes `keys` (0 with none: an asset linked to nothing beside it goes first)."""
        ys = [self.position[k][1] + self._heights[k] / 2 for k in keys if k in self.position]
        return sum(ys) / len(ys) if ys else 0.0

    def row_anchor(self, key: str, row: int | None, side: str) -> tuple[float, float]:
        """Where an edge meets a box: the row's (or, with None, the header's) left or right middle."""
        x, y = self.position[key]
        middle = HEADER_HEIGHT / 2 if row is None else HEADER_HEIGHT + row * ROW_HEIGHT + ROW_HEIGHT / 2
        return (x + self.box_width if side == "right" else x, y + middle)


def _height(asset: AssetNode) -> float:
    return HEADER_HEIGHT + ROW_HEIGHT * len(asset.columns)


def _edges(view: LineageView, layout: _Layout) -> list[str]:
    _, column_ids = view.node_ids()
    rows = {(a.key, c): i for a in view.assets for i, c in enumerate(a.columns)}
    paths = []
    for e in view.column_edges:
        start = layout.row_anchor(e.source, rows[(e.source, e.source_column)], "right")
        end = layout.row_anchor(e.target, rows[(e.target, e.target_column)], "left")
        label = f"{e.source}.{e.source_column} \u2192 {e.target}.{e.target_column} ({e.kind})"
        paths.append(f'<path class="edge column-edge" d="{_curve(start, end)}" '
                     f'data-from="{column_ids[(e.source, e.source_column)]}" '
                     f'data-to="{column_ids[(e.target, e.target_column)]}" data-kind="{escape(e.kind)}">'
                     f"<title>{escape(label)}</title></path>")
    for source, target in view.uncovered_table_edges():
        start, end = layout.row_anchor(source, None, "right"), layout.row_anchor(target, None, "left")
        paths.append(f'<path class="edge table-edge" d="{_curve(start, end)}" '
                     f'data-source-asset="{escape(source)}" data-target-asset="{escape(target)}">'
                     f"<title>{escape(target)} reads {escape(source)} (no column carried over)</title></path>")
    return paths


def _curve(start: tuple[float, float], end: tuple[float, float]) -> str:
    (x1, y1), (x2, y2) = start, end
    bend = max((x2 - x1) / 2, 40)
    return f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"


def _asset(asset: AssetNode, layout: _Layout, column_ids: dict[tuple[str, str], str]) -> str:
    x, y = layout.position[asset.key]
    kind = "transformation" if asset.transformation else "discovered"
    key = escape(asset.key)
    parts = [f'<g class="asset {kind}" data-asset="{key}" transform="translate({x:.1f},{y:.1f})">',
             f'<rect class="asset-box" width="{layout.box_width:.1f}" height="{_height(asset):.0f}" rx="4"/>',
             f'<rect class="asset-header" width="{layout.box_width:.1f}" height="{HEADER_HEIGHT}" rx="4"/>',
             f'<text class="asset-title" x="10" y="{HEADER_HEIGHT / 2 + 4:.0f}">{key}</text>']
    for row, column in enumerate(asset.columns):
        top = HEADER_HEIGHT + row * ROW_HEIGHT
        parts.append(
            f'<g class="column" id="{column_ids[(asset.key, column)]}" data-asset="{key}"'
            f' data-column="{escape(column)}" tabindex="0">'
            f'<title>{key}.{escape(column)}</title>'
            f'<rect class="column-row" y="{top}" width="{layout.box_width:.1f}" height="{ROW_HEIGHT}"/>'
            f'<text x="10" y="{top + ROW_HEIGHT / 2 + 4:.0f}">{escape(column)}</text></g>')
    parts.append("</g>")
    return "".join(parts)


STYLE = """
body { font: 14px system-ui, sans-serif; margin: 16px; color: #1f2933; }
h1 { font-size: 18px; margin: 0 0 4px; }
.summary, .status { margin: 2px 0 10px; color: #52606d; }
.status { min-height: 1.4em; }  /* text appearing must not move the drawing under the pointer */
.canvas { overflow: auto; }
svg text { font: 12px monospace; fill: #1f2933; pointer-events: none; }
.asset-box { fill: #fff; stroke: #9aa5b1; }
.discovered .asset-header { fill: #cfe0f3; stroke: #9aa5b1; }
.transformation .asset-header { fill: #d7ecd3; stroke: #9aa5b1; }
.asset-title { font-weight: bold; }
.column { cursor: pointer; outline: none; }
.column-row { fill: transparent; stroke: #e4e7eb; }
.column:hover .column-row, .column:focus .column-row { fill: #fff3bf; }
.edge { fill: none; stroke: #7b8794; stroke-width: 1.2; opacity: 0.7; }
.table-edge { stroke-dasharray: 5 4; }
.tracing .column:not(.lit) text { fill: #b6bec7; }
.tracing .edge:not(.lit) { opacity: 0.08; }
.column.lit .column-row { fill: #ffe8cc; }
.column.selected .column-row { fill: #ffc078; }
.edge.lit { stroke: #d9480f; stroke-width: 2.4; opacity: 1; }
"""

# Upstream and downstream are walked separately, so a column's siblings never light up.
SCRIPT = """
(function () {
  var columns = Array.prototype.slice.call(document.querySelectorAll("g.column"));
  var edges = Array.prototype.slice.call(document.querySelectorAll("path.column-edge"));
  var status = document.getElementById("lineage-status");
  var into = {}, outOf = {};
  edges.forEach(function (edge) {
    var from = edge.getAttribute("data-from"), to = edge.getAttribute("data-to");
    (outOf[from] = outOf[from] || []).push(edge);
    (into[to] = into[to] || []).push(edge);
  });
  function walk(start, byColumn, nextAttr, lit, litEdges) {
    var stack = [start], seen = {};
    while (stack.length) {
      var id = stack.pop();
      (byColumn[id] || []).forEach(function (edge) {
        litEdges.add(edge);
        var next = edge.getAttribute(nextAttr);
        if (!seen[next]) { seen[next] = true; lit.add(next); stack.push(next); }
      });
    }
  }
  function describe(id) {
    var node = document.getElementById(id);
    return node.getAttribute("data-asset") + "." + node.getAttribute("data-column");
  }
  var pinned = null;
  function show(id) {
    var lit = new Set(), litEdges = new Set();
    if (id) {
      lit.add(id);
      walk(id, into, "data-from", lit, litEdges);
      walk(id, outOf, "data-to", lit, litEdges);
    }
    document.body.classList.toggle("tracing", Boolean(id));
    columns.forEach(function (column) {
      column.classList.toggle("lit", lit.has(column.id));
      column.classList.toggle("selected", column.id === id);
    });
    edges.forEach(function (edge) { edge.classList.toggle("lit", litEdges.has(edge)); });
    status.textContent = id
      ? describe(id) + ": " + (lit.size - 1) + " related columns" + (pinned ? " (pinned)" : "")
      : "";
  }
  columns.forEach(function (column) {
    column.addEventListener("mouseenter", function () { if (!pinned) { show(column.id); } });
    column.addEventListener("mouseleave", function () { if (!pinned) { show(null); } });
    column.addEventListener("focus", function () { if (!pinned) { show(column.id); } });
    column.addEventListener("click", function (event) {
      event.stopPropagation();
      pinned = pinned === column.id ? null : column.id;
      show(pinned || column.id);
    });
  });
  document.getElementById("lineage").addEventListener("click", function () { pinned = null; show(null); });
})();
"""
