"""Table lineage from the asset graph of a `Definitions`: parents, children, reachable edges."""

from __future__ import annotations

from collections import deque

import dagster as dg


def dependency_maps(defs: dg.Definitions) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """parents and children of every asset key, as `a/b` strings."""
    parents: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for spec in defs.resolve_all_asset_specs():
        key = spec.key.to_user_string()
        parents.setdefault(key, [])
        children.setdefault(key, [])
        for dep in spec.deps:
            upstream = dep.asset_key.to_user_string()
            parents[key].append(upstream)
            children.setdefault(upstream, []).append(key)
    return parents, children


def walk(start: str, edges: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Breadth-first (from, to) edges reachable from `start` along `edges`."""
    seen, found, queue = {start}, [], deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges.get(node, [])):
            found.append((node, nxt))
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return found
