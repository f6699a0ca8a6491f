"""A guarded DuckDB SELECT, rewritten so Spark SQL computes the same result.

sqlglot transpiles syntax (quoting, QUALIFY, NULLS ordering, string concatenation);
what it cannot know is where the two engines' semantics differ, so the tree is
adjusted first:

- types: DuckDB's `TIMESTAMP` is naive (Spark `TIMESTAMP_NTZ`), `TIMESTAMPTZ` an
  instant (Spark `TIMESTAMP`); unsigned and 128-bit integers, which Spark lacks, widen
  to the smallest Spark type holding every value; finer timestamps become microseconds.
  A type with no Spark counterpart (TIME, JSON, ...) is an `UnsupportedFeature`.
- `avg` returns DOUBLE in DuckDB for every numeric input; Spark keeps a DECIMAL input
  a DECIMAL rounded to a few digits, so the argument is cast to DOUBLE first.
- `error(msg)`, the compiler's checked-cast failure, is Spark's `raise_error(msg)`.
- the result is cast to the target schema's types, so every column leaves Spark with
  the type DuckDB would have written (a Spark DECIMAL sum, say, becomes the declared
  BIGINT or DOUBLE).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from .sql_guard import DIALECT

SPARK = "spark"

T = exp.DataType.Type
# DuckDB types Spark does not have, and the Spark type that holds every value.
WIDENED: dict[T, exp.DataType] = {
    T.UTINYINT: exp.DataType.build("SMALLINT"),
    T.USMALLINT: exp.DataType.build("INT"),
    T.UINT: exp.DataType.build("BIGINT"),
    T.UBIGINT: exp.DataType.build("DECIMAL(20, 0)"),
    T.INT128: exp.DataType.build("DECIMAL(38, 0)"),
    T.UINT128: exp.DataType.build("DECIMAL(38, 0)"),
    T.TIMESTAMP_S: exp.DataType.build("TIMESTAMP_NTZ", dialect=SPARK),
    T.TIMESTAMP_MS: exp.DataType.build("TIMESTAMP_NTZ", dialect=SPARK),
    T.TIMESTAMP_NS: exp.DataType.build("TIMESTAMP_NTZ", dialect=SPARK),
    T.TIMESTAMP: exp.DataType.build("TIMESTAMP_NTZ", dialect=SPARK),
}
# Types with no Spark counterpart that keeps their values and behaviour.
UNSUPPORTED_TYPES = frozenset({
    T.TIME, T.TIMETZ, T.JSON, T.INTERVAL, T.BIT, T.ENUM, T.UNION, T.UUID, T.BIGNUM,
    T.NULL, T.UNKNOWN,
})
# Keyword forms Spark parses that are not functions in its catalog.
SPARK_SYNTAX = frozenset({"try_cast"})
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\(")


class UnsupportedFeature(ValueError):
    """The plan uses something Spark SQL cannot run; the message names the feature."""


def spark_type(dtype: exp.DataType, *, where: str) -> exp.DataType:
    """The Spark type for a DuckDB type (nested types mapped inside); raise
    `UnsupportedFeature` naming `where` for one Spark lacks."""
    mapped = exp.Cast(this=exp.null(), to=dtype.copy())  # a parent, so the root type can be replaced too
    for node in list(mapped.to.walk()):
        if isinstance(node, exp.DataType):
            _map_type(node, where=where)
    return mapped.to


def _map_type(node: exp.DataType, *, where: str) -> None:
    if node.this in UNSUPPORTED_TYPES:
        raise UnsupportedFeature(f"type {node.sql(dialect=DIALECT)} in {where} has no Spark SQL counterpart")
    if node.this in WIDENED:
        node.replace(WIDENED[node.this].copy())


def spark_query(query: exp.Query, target: Iterable[tuple[str, exp.DataType]]) -> exp.Select:
    """A guarded DuckDB `query` rewritten for Spark, its result cast to `target` (name, DuckDB type)."""
    tree = query.copy()
    for node in list(tree.walk()):
        if isinstance(node, exp.DataType):
            _map_type(node, where=node.parent.sql(dialect=DIALECT) if node.parent else "the query")
        elif isinstance(node, exp.Avg):
            node.set("this", exp.cast(node.this, exp.DataType.build("DOUBLE")))
        elif isinstance(node, exp.Anonymous) and node.name.lower() == "error":
            node.set("this", "raise_error")
    columns = [
        exp.cast(exp.column(name, table="q", quoted=True), spark_type(dtype, where=f"target_schema column {name!r}"))
        .as_(name, quoted=True)
        for name, dtype in target
    ]
    return exp.select(*columns).from_(tree.subquery("q"))


def spark_sql(tree: exp.Select) -> str:
    """`spark_query`'s tree as Spark SQL text; what sqlglot cannot express is an `UnsupportedFeature`."""
    try:
        return tree.sql(dialect=SPARK, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as e:
        raise UnsupportedFeature(str(e).splitlines()[0]) from None


def missing_function(tree: exp.Select, exists: Callable[[str], bool]) -> str | None:
    """The first function the Spark SQL calls that `exists` (Spark's catalog) denies, as the
    spec spells it in DuckDB."""
    answers: dict[str, bool] = {}
    for call in tree.find_all(exp.Func):
        name = _called(call, SPARK)
        if name is None or name in SPARK_SYNTAX:
            continue
        if name not in answers:
            answers[name] = exists(name)
        if not answers[name]:
            return _called(call, DIALECT) or name
    return None


def _called(call: exp.Func, dialect: str) -> str | None:
    """The name a call renders with in `dialect`, None for operators and keyword forms."""
    match = _CALL.match(call.sql(dialect=dialect))
    return match.group(1).lower() if match else None
