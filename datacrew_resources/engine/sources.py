"""How the engine sees one input: where it is, how DuckDB reads it, and its name in SQL."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlglot import exp

from datacrew_resources.catalog.models import DatasetFormat

# A wildcard of a glob location, as DuckDB (and Spark, after translation) expand it.
GLOB = re.compile(r"[*?\[{]")


@dataclass(frozen=True)
class Recorded:
    """What the catalog saw when it scanned a source: its exact row count, and the size and
    modification time of the file it counted."""

    rows: int
    size_bytes: int
    modified: datetime


@dataclass(frozen=True)
class SourceRef:
    """A readable input of a transformation, named by its `source/dataset` key.

    `location` is an absolute file path or glob for files, the database file for
    `duckdb_table` (then `table` is `schema.table`). `recorded` is the catalog's scan,
    when there is one.
    """

    key: str
    kind: DatasetFormat
    location: str
    table: str | None = None
    hive_partitioning: bool = False
    columns: tuple[tuple[str, str], ...] = field(default=())
    recorded: Recorded | None = None

    def recorded_rows(self) -> int | None:
        """The catalog's row count while it is still exact, else None.

        Exact only for one lake file (no glob) whose size and modification time are
        the ones the catalog counted (discovery's own rule for skipping a rescan). A
        glob may gain or lose files and a database table changes without its file's
        mtime saying how, so those are always counted.
        """
        if self.recorded is None or self.kind == "duckdb_table" or GLOB.search(self.location):
            return None
        try:
            stat = os.stat(self.location)
        except OSError:
            return None
        modified = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
        if stat.st_size != self.recorded.size_bytes or modified != self.recorded.modified:
            return None
        return self.recorded.rows



def view_identifier(key: str) -> exp.Identifier:
    """The SQL name of a source: the key itself, always double-quoted (`"lake/flights"`).

    Keys match `[a-z][a-z0-9_]*/[a-z][a-z0-9_]*`, so the name is injective, cannot hold a
    quote, and reads in SQL exactly as the asset key reads everywhere else.
    """
    return exp.to_identifier(key, quoted=True)
