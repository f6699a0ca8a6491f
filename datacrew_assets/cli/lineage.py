"""`datacrew lineage`: tables from the Dagster asset graph, columns from compiled specs, drawn on request."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datacrew_resources.config import ConfigError, ConfigErrors, Home
from datacrew_resources.engine.lineage import ColumnDep, column_lineage_detail
from datacrew_resources.source_refs import build_engine, source_refs

from ..asset_graph import dependency_maps, walk
from ..definitions import build_definitions
from ..lineage_render import RENDERERS, AssetNode, ColumnEdge, LineageView

FORMATS = ("text", *RENDERERS)
DRAWN_FORMATS = ("mermaid", "dot", "html")  # always the graph, columns included


@dataclass(frozen=True)
class Step:
    """One column on a lineage path, and how it was made from the next one along (upstream)."""

    asset_key: str
    column: str
    kind: str | None = None  # None for the path's first column

    def to_dict(self) -> dict[str, Any]:
        return {"asset_key": self.asset_key, "column": self.column, "kind": self.kind}


class ColumnGraph:
    """Column lineage over every transformation, compiled from the catalog and the specs.

    Nothing is read from outputs, so no materialization is needed. Each spec is compiled
    (and traced) the first time it is asked about.
    """

    def __init__(self, home: Home):
        config = home.load_config()
        loaded = home.load_specs(config)
        self._specs = {l.spec.key_string: l for l in loaded}
        self._engine = build_engine(home, config, loaded)
        self._sources = source_refs(home, loaded)
        self._lineage: dict[str, dict[str, list[ColumnDep]]] = {}

    @property
    def keys(self) -> list[str]:
        return sorted(self._sources)

    def is_transformation(self, key: str) -> bool:
        return key in self._specs

    def require(self, key: str) -> None:
        if key not in self._sources:
            raise ConfigErrors([ConfigError(f"no such asset (known: {', '.join(self.keys)})", field="KEY", value=key)])

    def reads(self, key: str) -> list[str]:
        """The assets a transformation reads (its spec's sources); none for a discovered dataset."""
        return list(self._specs[key].spec.sources) if self.is_transformation(key) else []

    def columns(self, key: str) -> list[str]:
        if self.is_transformation(key):
            return list(self.lineage(key))
        return [name for name, _ in self._source_columns(key)]

    def lineage(self, key: str) -> dict[str, list[ColumnDep]]:
        """Direct lineage of a transformation: output column -> the source columns it reads."""
        if key not in self._lineage:
            loaded = self._specs[key]
            plan = self._engine.compile(loaded.spec, file=str(loaded.path))
            sources = {k: dataclasses.replace(self._sources[k], columns=tuple(self._source_columns(k)))
                       for k in plan.source_keys}
            self._lineage[key] = column_lineage_detail(plan, sources)
        return self._lineage[key]

    def _source_columns(self, key: str) -> list[tuple[str, str]]:
        ref = self._sources[key]
        if ref.columns:
            return list(ref.columns)
        # A catalog record without a column list: ask the engine, as compiling does.
        return [(c["name"], c["type"]) for c in self._engine.inspect(key)["columns"]]

    def ancestors(self, key: str) -> list[str]:
        """Transformations `key` reads from, nearest first (breadth-first over the specs' sources)."""
        found, queue = [], deque([key])
        while queue:
            node = queue.popleft()
            if not self.is_transformation(node):
                continue
            for source in self._specs[node].spec.sources:
                if self.is_transformation(source) and source not in found and source != key:
                    found.append(source)
                    queue.append(source)
        return found

    def upstream_paths(self, key: str, column: str) -> list[list[Step]]:
        """Every path from `key.column` back to a discovered dataset's column (or to a column
        made of no column, such as `count(*)`)."""
        return self._paths_up(key, column, frozenset())

    def _paths_up(self, key: str, column: str, seen: frozenset) -> list[list[Step]]:
        if not self.is_transformation(key) or (key, column) in seen:
            return [[]]
        paths = []
        for dep in self.lineage(key).get(column, []):
            for tail in self._paths_up(dep.source, dep.column, seen | {(key, column)}):
                paths.append([Step(dep.source, dep.column, dep.kind), *tail])
        return paths or [[]]

    def downstream_paths(self, key: str, column: str) -> list[list[Step]]:
        """Every path from `key.column` forward to a column nothing reads; each step's kind says
        how that column was made from the one before it."""
        readers = self._readers()
        return self._paths_down(key, column, readers, frozenset())

    def _readers(self) -> dict[tuple[str, str], list[Step]]:
        readers: dict[tuple[str, str], list[Step]] = {}
        for key in sorted(self._specs):
            for column, deps in self.lineage(key).items():
                for dep in deps:
                    readers.setdefault((dep.source, dep.column), []).append(Step(key, column, dep.kind))
        return readers

    def _paths_down(self, key: str, column: str, readers: dict, seen: frozenset) -> list[list[Step]]:
        paths = []
        for step in readers.get((key, column), []):
            if (step.asset_key, step.column) in seen:
                continue
            for tail in self._paths_down(step.asset_key, step.column, readers, seen | {(key, column)}):
                paths.append([step, *tail])
        return paths or [[]]


def column_report(graph: ColumnGraph, key: str, *, upstream: bool = True, ancestors: bool = False,
                  downstream: bool = False) -> dict[str, Any]:
    """The JSON of `datacrew lineage KEY --columns`.

    For `key` (and with `ancestors` each transformation it reads from, nearest first) and
    each column: with `upstream`, its direct sources (`depends_on`, with the kind of
    each), the discovered-dataset columns it comes from (`origins`) and every path there
    (`upstream_paths`); with `downstream`, for `key`'s own columns every path to the
    columns made of them (`downstream_paths`).
    """
    graph.require(key)
    report: dict[str, Any] = {"asset_key": key, "assets": []}
    for asset in [key, *graph.ancestors(key)] if ancestors else [key]:
        transformation = graph.is_transformation(asset)
        entry: dict[str, Any] = {"asset_key": asset, "transformation": transformation, "columns": []}
        for column in graph.columns(asset):
            item: dict[str, Any] = {"name": column}
            if upstream and transformation:
                paths = [p for p in graph.upstream_paths(asset, column) if p]
                item["depends_on"] = [d.to_dict() for d in graph.lineage(asset)[column]]
                item["origins"] = _unique(
                    {"asset_key": p[-1].asset_key, "column": p[-1].column}
                    for p in paths if not graph.is_transformation(p[-1].asset_key)
                )
                item["upstream_paths"] = [[s.to_dict() for s in p] for p in paths]
            if downstream and asset == key:
                item["downstream_paths"] = [[s.to_dict() for s in p] for p in graph.downstream_paths(asset, column) if p]
            entry["columns"].append(item)
        report["assets"].append(entry)
    return report


def column_report_lines(report: dict[str, Any]) -> list[str]:
    """One line per path: `a.x <- b.y <- lake/c.z` upstream, `a.x -> b.y` downstream."""
    lines = []
    for entry in report["assets"]:
        asset = entry["asset_key"]
        lines.append(asset if entry["transformation"] else f"{asset} (discovered dataset)")
        for column in entry["columns"]:
            name = f"{asset}.{column['name']}"
            if "upstream_paths" in column:
                paths = column["upstream_paths"]
                lines += [f"  {name} <- " + " <- ".join(map(_label, p)) for p in paths]
                if not paths:
                    lines.append(f"  {name} <- (no source column)")
            if "downstream_paths" in column:
                paths = column["downstream_paths"]
                lines += [f"  {name} -> " + " -> ".join(map(_label, p)) for p in paths]
                if not paths and "upstream_paths" not in column:
                    lines.append(f"  {name} -> (read by no transformation)")
            if "upstream_paths" not in column and "downstream_paths" not in column:
                lines.append(f"  {name}")
    return lines


def _label(step: dict[str, Any]) -> str:
    return f"{step['asset_key']}.{step['column']}"


def _unique(items) -> list[dict[str, Any]]:
    seen, found = set(), []
    for item in items:
        marker = tuple(item.items())
        if marker not in seen:
            seen.add(marker)
            found.append(item)
    return found


def lineage_view(graph: ColumnGraph, key: str | None, *, upstream: bool = True,
                 downstream: bool = True) -> LineageView:
    """Table and column lineage of every asset (`key` None), or of `key` and the assets
    it reads from (`upstream`) and feeds (`downstream`), transitively."""
    table_edges = [(source, target) for target in graph.keys for source in graph.reads(target)]
    if key is None:
        keys = set(graph.keys)
    else:
        graph.require(key)
        parents, children = {}, {}
        for source, target in table_edges:
            parents.setdefault(target, []).append(source)
            children.setdefault(source, []).append(target)
        keys = {key}
        keys |= {node for _, node in walk(key, parents)} if upstream else set()
        keys |= {node for _, node in walk(key, children)} if downstream else set()
    depth: dict[str, int] = {}

    def depth_of(asset: str) -> int:
        if asset not in depth:
            depth[asset] = 1 + max((depth_of(s) for s in graph.reads(asset) if s in keys), default=-1)
        return depth[asset]

    assets = sorted(
        (AssetNode(k, graph.is_transformation(k), depth_of(k), tuple(graph.columns(k))) for k in keys),
        key=lambda a: (a.depth, a.key),
    )
    column_edges = [
        ColumnEdge(dep.source, dep.column, asset.key, column, dep.kind)
        for asset in assets if asset.transformation
        for column, deps in graph.lineage(asset.key).items()
        for dep in deps if dep.source in keys
    ]
    return LineageView(root=key, assets=tuple(assets),
                       table_edges=tuple(e for e in table_edges if e[0] in keys and e[1] in keys),
                       column_edges=tuple(column_edges))


def lineage_command(args: argparse.Namespace, home: Home) -> int:
    """`datacrew lineage`: one asset's table or column lineage as text or JSON, or the graph drawn.

    The graph (mermaid, dot, html; json with --columns and no direction, or --all) spans
    every asset, or KEY's lineage when KEY is given.
    """
    fmt = "json" if args.json and args.format == "text" else args.format
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format (known: {', '.join(FORMATS)})", field="--format", value=fmt)
    if args.all and args.key:
        raise ConfigError("give KEY or --all, not both", field="KEY", value=args.key)
    whole = args.all or args.key is None
    one_side = args.upstream or args.downstream
    drawn = fmt in DRAWN_FORMATS or (fmt == "json" and (whole or (args.columns and not one_side)))
    if whole and not drawn:
        raise ConfigError("the whole graph is drawn as mermaid, dot, json or html; text needs KEY",
                          field="--format", value=fmt)
    if drawn:
        view = lineage_view(ColumnGraph(home), None if whole else args.key,
                            upstream=not args.downstream, downstream=not args.upstream)
        text = RENDERERS[fmt](view)
    elif args.columns:
        # Neither direction: the key's columns both ways; --upstream adds its ancestors.
        report = column_report(ColumnGraph(home), args.key, upstream=not args.downstream,
                               ancestors=args.upstream, downstream=not args.upstream)
        text = json.dumps(report, indent=2) if fmt == "json" else "\n".join(column_report_lines(report))
    else:
        text = _table_lineage(home, args, as_json=fmt == "json")
    _emit(text, args.output)
    return 0


def _table_lineage(home: Home, args: argparse.Namespace, *, as_json: bool) -> str:
    parents, children = dependency_maps(build_definitions(home))
    key = args.key
    if key not in parents:
        known = ", ".join(sorted(parents))
        raise ConfigErrors([ConfigError(f"no such asset (known: {known})", field="KEY", value=key)])
    upstream = [] if args.downstream else walk(key, parents)
    downstream = [] if args.upstream else walk(key, children)
    if as_json:
        return json.dumps({
            "asset_key": key,
            "upstream": [{"asset_key": child, "depends_on": parent} for child, parent in upstream],
            "downstream": [{"asset_key": child, "depends_on": parent} for parent, child in downstream],
        }, indent=2)
    lines = [key]
    lines += [f"  upstream   {child} <- {parent}" for child, parent in upstream]
    lines += [f"  downstream {parent} -> {child}" for parent, child in downstream]
    return "\n".join(lines)


def _emit(text: str, output: str | None) -> None:
    if output is None:
        print(text.rstrip("\n"))
        return
    try:
        Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot write: {e.strerror or e}", field="--output", value=output) from e
