"""FROM-able relations over readable keys: discovered datasets and transformation outputs.

Quality metrics read a dataset and the relations its columns reference (`references:
warehouse/airlines.carrier`) in one connection. A key resolves to the engine's
`SourceRef` (the catalog's record, or where a spec writes its output); a file is read
with its DuckDB reader, a warehouse table through its database ATTACHed READ_ONLY for
the duration of the block only, so no lock on the file outlives the read.

The connection must be allowed to read the files and attach databases: a plain
in-memory connection (`PlatformResource.duckdb_connection()`), not a locked sandbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import duckdb
from sqlglot import exp

from ..config import ConfigError, Home, LoadedSpec
from ..engine import SourceRef
from ..engine.outputs import attach_database
from ..engine.sandbox import READERS
from ..engine.sql_guard import DIALECT
from ..source_refs import source_refs

LOCK_TIMEOUT = 30.0  # seconds to wait for a warehouse another process is writing


def resolve_refs(home: Home, specs: list[LoadedSpec], keys: Iterable[str]) -> dict[str, SourceRef]:
    """The `SourceRef` of each key (`lake/flights`, `transformed/flights_clean`); a one-line
    ConfigError names the first key that is neither in the catalog nor a transformation."""
    wanted = set(keys)
    return pick_refs(source_refs(home, specs), wanted) if wanted else {}


def pick_refs(refs: Mapping[str, SourceRef], keys: Iterable[str]) -> dict[str, SourceRef]:
    """`keys`' entries of `refs` (from `source_refs`, read once for many lookups)."""
    picked = {}
    for key in sorted(set(keys)):
        if key not in refs:
            raise ConfigError("no such dataset or transformation", field="references", value=key)
        picked[key] = refs[key]
    return picked


@contextmanager
def open_relations(
    connection: duckdb.DuckDBPyConnection, refs: Iterable[SourceRef], *, lock_timeout: float = LOCK_TIMEOUT
) -> Iterator[dict[str, exp.Expression]]:
    """{key: FROM-able expression} for `refs` in `connection`, valid inside the block.

    Each warehouse database is attached once, READ_ONLY, and detached on leaving.
    """
    attached: dict[str, exp.Identifier] = {}
    try:
        relations = {}
        for ref in refs:
            if ref.kind == "duckdb_table":
                if ref.location not in attached:
                    alias = exp.to_identifier(f"datacrew_read_{uuid.uuid4().hex[:8]}", quoted=True)
                    attach_database(connection, ref.location, alias, read_only=True, lock_timeout=lock_timeout)
                    attached[ref.location] = alias
                relations[ref.key] = _table(attached[ref.location], ref.table or "")
            else:
                relations[ref.key] = _reader(ref)
        yield relations
    finally:
        for alias in attached.values():
            connection.execute(exp.Detach(this=alias.copy()).sql(dialect=DIALECT))


def _table(alias: exp.Identifier, qualified: str) -> exp.Table:
    schema, _, table = qualified.rpartition(".")
    return exp.Table(
        this=exp.to_identifier(table, quoted=True),
        db=exp.to_identifier(schema or "main", quoted=True),
        catalog=alias.copy(),
    )


def _reader(ref: SourceRef) -> exp.Expression:
    """read_parquet/read_csv/read_json over the file or glob, as the engine's views read it."""
    options: list[exp.Expression] = [exp.Literal.string(ref.location)]
    if ref.kind == "parquet" and ref.hive_partitioning:
        options.append(exp.EQ(this=exp.var("hive_partitioning"), expression=exp.true()))
    return exp.Table(this=exp.Anonymous(this=READERS[ref.kind], expressions=options))
