"""How the engine sees one input: where it is and how DuckDB reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SourceKind = Literal["parquet", "csv", "json", "duckdb_table"]


@dataclass(frozen=True)
class SourceRef:
    """A readable input of a transformation, named by its `source/dataset` key.

    `location` is an absolute file path or glob for files, the database file for
    `duckdb_table` (then `table` is `schema.table`).
    """

    key: str
    kind: SourceKind
    location: str
    table: str | None = None
    hive_partitioning: bool = False
    columns: tuple[tuple[str, str], ...] = field(default=())
