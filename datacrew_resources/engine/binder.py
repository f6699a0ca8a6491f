"""Bind SQL against empty copies of the sources: types and binder errors without reading data.

Every `Binder` is a cursor on one process-wide in-memory DuckDB (created on first use,
again in a forked child), its empty tables TEMP tables: private to the cursor and gone
when it closes. A cursor costs well under a millisecond where a new database costs
12-20 ms, and a compile needs one. That database reads no file at all: external access
is off and its configuration locked before any cursor is handed out, so an expression
that slipped past the guard cannot read or write anything either.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

import duckdb
from sqlglot import exp
from sqlglot.errors import ParseError

from datacrew_resources.config.errors import ConfigError, first_line

from .sources import SourceRef, view_identifier
from .sql_guard import DIALECT, check_type


_shared: tuple[int, duckdb.DuckDBPyConnection] | None = None
_shared_lock = threading.Lock()


def _binding_database() -> duckdb.DuckDBPyConnection:
    """The process's binding database (a fork gets its own: DuckDB state does not survive one)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            con = duckdb.connect(":memory:", config={
                "threads": 1,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            })
            # Nothing here reads files; lock it so a slipped expression cannot either.
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            _shared = (os.getpid(), con)
        return _shared[1]


class Binder:
    """A cursor with one empty TEMP table per source, shaped like its `columns`."""

    def __init__(self, refs: Iterable[SourceRef]):
        self._con = _binding_database().cursor()
        try:
            for ref in refs:
                self._con.execute(_create_empty(ref).sql(dialect=DIALECT))
        except BaseException:
            self._con.close()
            raise

    def __enter__(self) -> "Binder":
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()

    def columns(self, query: exp.Query) -> list[tuple[str, str]]:
        """(name, DuckDB type) of the query's result; raises duckdb.Error if it does not bind."""
        relation = self._con.sql(query.sql(dialect=DIALECT))
        return [(name, str(kind)) for name, kind in zip(relation.columns, relation.types)]

    def value(self, expression: exp.Expression) -> object:
        """Evaluate one constant expression (no table); raises duckdb.Error if it fails."""
        return self._con.execute(exp.select(expression).sql(dialect=DIALECT)).fetchall()[0][0]

    def type_name(self, dtype: exp.DataType, *, field: str) -> str:
        """DuckDB's canonical spelling of a type (`INT` -> `INTEGER`)."""
        try:
            return self.columns(exp.select(exp.cast(exp.null(), dtype).as_("t")))[0][1]
        except duckdb.Error as e:
            raise ConfigError(f"is not a DuckDB type ({first_line(e)})", field=field,
                              value=dtype.sql(dialect=DIALECT)) from None

    def casts_implicitly(self, source: str, target: str) -> bool:
        """True when DuckDB would convert `source` to `target` on its own (never lossy)."""
        try:
            values = [_cast_to(exp.null(), source), _cast_to(exp.null(), target)]
        except (ParseError, ValueError):
            return False  # a type sqlglot cannot spell (e.g. NULL): convert with a checked cast
        call = exp.Anonymous(this="can_cast_implicitly", expressions=values)
        return bool(self._con.execute(exp.select(call).sql(dialect=DIALECT)).fetchall()[0][0])

    def cast_exists(self, source: str, target: str) -> bool:
        """False when DuckDB has no conversion at all between the types (BIGINT -> DATE).

        DuckDB binds such casts and fails only on the first non-null value, so probe
        with one: the first seed text that converts to `source`, cast on to `target`.
        """
        if source == "VARCHAR":
            return True  # text converts or not value by value: the checked cast decides
        for seed in PROBE_SEEDS:
            try:
                probe = _cast_to(_cast_to(exp.Literal.string(seed), source), target)
            except (ParseError, ValueError):
                return True  # a type sqlglot cannot spell: leave it to the checked cast
            try:
                self._con.execute(exp.select(probe).sql(dialect=DIALECT)).fetchall()
                return True
            except duckdb.Error as e:
                if "Unimplemented type for cast" in str(e):
                    return False
        return True


# Texts that convert to at least one value of every scalar DuckDB type.
PROBE_SEEDS = ("1", "true", "2000-01-01 00:00:00", "2000-01-01", "00:00:00", "1 day",
               "00000000-0000-0000-0000-000000000000")


def _cast_to(value: exp.Expression, type_name: str) -> exp.Cast:
    """A CAST to a type given as DuckDB's own spelling (as `Binder.columns` reports it)."""
    return exp.cast(value, exp.DataType.build(type_name, dialect=DIALECT))


def _create_empty(ref: SourceRef) -> exp.Create:
    columns = [
        exp.ColumnDef(
            this=exp.to_identifier(name, quoted=True),
            kind=check_type(kind, field=f"{ref.key}.columns.{name}"),
        )
        for name, kind in ref.columns
    ]
    schema = exp.Schema(this=exp.Table(this=view_identifier(ref.key)), expressions=columns)
    return exp.Create(kind="TABLE", this=schema, properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
