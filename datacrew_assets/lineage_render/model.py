"""What every renderer draws: assets with their columns, and the table and column edges between them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AssetNode:
    """One asset; `depth` is 0 for a discovered dataset, else one more than its deepest source."""

    key: str
    transformation: bool
    depth: int
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ColumnEdge:
    """`target.target_column` is made from `source.source_column`; `kind` says how (identity, cast, ...)."""

    source: str
    source_column: str
    target: str
    target_column: str
    kind: str


@dataclass(frozen=True)
class LineageView:
    """A lineage graph: `root` is the asset it was drawn around, None for the whole graph.

    Assets are ordered by depth, then key; edges only join assets of the view.
    """

    root: str | None
    assets: tuple[AssetNode, ...]
    table_edges: tuple[tuple[str, str], ...]
    column_edges: tuple[ColumnEdge, ...]

    def uncovered_table_edges(self) -> list[tuple[str, str]]:
        """Table edges no column edge already draws (e.g. a source read only for `count(*)`)."""
        covered = {(e.source, e.target) for e in self.column_edges}
        return [edge for edge in self.table_edges if edge not in covered]

    def node_ids(self) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        """Short identifiers safe in every output syntax: `a3` for an asset, `a3_c1` for its column."""
        assets, columns = {}, {}
        for i, asset in enumerate(self.assets):
            assets[asset.key] = f"a{i}"
            for j, column in enumerate(asset.columns):
                columns[(asset.key, column)] = f"a{i}_c{j}"
        return assets, columns
