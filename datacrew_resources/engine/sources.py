"""How the engine sees one input: where it is, how DuckDB reads it, and its name in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from datacrew_resources.catalog.models import DatasetFormat


@dataclass(frozen=True)
class SourceRef:
    """A readable input of a transformation, named by its `source/dataset` key.

    `location` is an absolute file path or glob for files, the database file for
    `duckdb_table` (then `table` is `schema.table`).
    """

    key: str
    kind: DatasetFormat
    location: str
    table: str | None = None
    hive_partitioning: bool = False
    columns: tuple[tuple[str, str], ...] = field(default=())


def view_identifier(key: str) -> exp.Identifier:
    """The SQL name of a source: the key itself, always double-quoted (`"lake/flights"`).

    Keys match `[a-z][a-z0-9_]*/[a-z][a-z0-9_]*`, so the name is injective, cannot hold a
    quote, and reads in SQL exactly as the asset key reads everywhere else.
    """
    return exp.to_identifier(key, quoted=True)
