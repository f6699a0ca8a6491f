"""Lineage for `datacrew lineage`: tables from the Dagster asset graph, columns from compiled specs."""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any

from datacrew_resources.config import ConfigError, ConfigErrors, Home
from datacrew_resources.engine.lineage import ColumnDep, column_lineage_detail
from datacrew_resources.source_refs import build_engine, source_refs

from ..asset_graph import dependency_maps, walk  # noqa: F401 - `datacrew lineage` uses them from here


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
