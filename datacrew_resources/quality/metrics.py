"""Quality metrics of one table in a single SQL scan.

- completeness: share of non-null cells over the declared columns;
- consistency: distinct present primary keys over rows, so every extra copy
  of a key and every row with a missing key part counts against it (1.0 when
  no key is declared);
- accuracy: share of rows whose values meet every declared value constraint
  (min, max, accepted values, pattern searched in the value's text), with the
  very predicates the engine's schema check uses (`engine.constraints`); a
  NULL meets a value constraint, since nullability is completeness's concern.

An empty table scores 1.0 on all three: there is nothing wrong in it, and
the row count is reported beside the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from sqlglot import exp

from ..config import TargetColumn, TargetSchema
from ..engine.constraints import col, value_violations

SAMPLE_LIMIT = 5


@dataclass(frozen=True)
class QualityMetrics:
    row_count: int
    completeness: float
    consistency: float
    accuracy: float
    null_cells: int
    cell_count: int
    duplicate_key_rows: int
    constraint_violations: dict[str, int] = field(default_factory=dict)

    @property
    def inaccurate_rows(self) -> int:
        return round((1 - self.accuracy) * self.row_count)


def _violation(column: TargetColumn) -> exp.Expression | None:
    """A predicate true where a value breaks any of the column's value constraints.

    A NULL value yields NULL in each term, so it is never counted nor sampled.
    """
    broken = list(value_violations(column).values())
    return exp.or_(*broken) if broken else None


def _is_null(name: str) -> exp.Expression:
    return exp.Is(this=col(name), expression=exp.Null())


def _any_key_null(keys: list[str]) -> exp.Expression:
    return exp.or_(*[_is_null(k) for k in keys])


def _sum(terms: list[exp.Expression]) -> exp.Expression:
    total = terms[0]
    for term in terms[1:]:
        total = exp.Add(this=total, expression=term)
    return total


def _key_struct(keys: list[str]) -> exp.Expression:
    return exp.Struct(expressions=[col(k) for k in keys])


def metrics_query(schema: TargetSchema, table: exp.Expression) -> tuple[exp.Select, list[str]]:
    """The single SELECT computing every figure; returns it with the constrained column names."""
    keys = schema.primary_key
    projections: list[exp.Expression] = [exp.alias_(exp.Count(this=exp.Star()), "rows")]
    null_counts = [exp.func("count_if", _is_null(c.name)) for c in schema.columns]
    projections.append(exp.alias_(_sum(null_counts), "null_cells"))
    if keys:
        distinct_present = exp.Filter(
            this=exp.Count(this=exp.Distinct(expressions=[_key_struct(keys)])),
            expression=exp.Where(this=exp.Not(this=exp.paren(_any_key_null(keys)))),
        )
        projections.append(exp.alias_(distinct_present, "distinct_keys"))
    constrained: list[str] = []
    any_violation: list[exp.Expression] = []
    for column in schema.columns:
        predicate = _violation(column)
        if predicate is not None:
            constrained.append(column.name)
            any_violation.append(predicate)
            projections.append(exp.alias_(exp.func("count_if", predicate), f"v_{len(constrained)}"))
    if any_violation:
        projections.append(exp.alias_(exp.func("count_if", exp.or_(*any_violation)), "bad_rows"))
    return exp.select(*projections).from_(table), constrained


def parquet_table(path: Path) -> exp.Expression:
    return exp.func("read_parquet", exp.convert(str(path)))


def measure(connection: duckdb.DuckDBPyConnection, schema: TargetSchema, table: exp.Expression) -> QualityMetrics:
    """Run the one-pass query over `table` (any FROM-able sqlglot expression)."""
    query, constrained = metrics_query(schema, table)
    cursor = connection.execute(query.sql(dialect="duckdb"))
    names = [d[0] for d in cursor.description]
    # Aggregates over zero rows come back NULL: read them as zero.
    row = {name: int(value or 0) for name, value in zip(names, cursor.fetchall()[0])}
    rows = row["rows"]
    cells = rows * len(schema.columns)
    null_cells = row["null_cells"]
    duplicate_key_rows = rows - row["distinct_keys"] if schema.primary_key else 0
    violations = {name: row[f"v_{i + 1}"] for i, name in enumerate(constrained)}
    bad_rows = row.get("bad_rows", 0)
    return QualityMetrics(
        row_count=rows,
        completeness=1.0 if cells == 0 else (cells - null_cells) / cells,
        consistency=1.0 if rows == 0 else (rows - duplicate_key_rows) / rows,
        accuracy=1.0 if rows == 0 else (rows - bad_rows) / rows,
        null_cells=null_cells,
        cell_count=cells,
        duplicate_key_rows=duplicate_key_rows,
        constraint_violations=violations,
    )


def sample_failures(
    connection: duckdb.DuckDBPyConnection,
    schema: TargetSchema,
    table: exp.Expression,
    *,
    limit: int = SAMPLE_LIMIT,
) -> dict[str, list[dict]]:
    """A few offending rows per problem; only called when a figure is below 1."""
    samples: dict[str, list[dict]] = {}
    keys = schema.primary_key
    if keys:
        counted = exp.alias_(exp.Count(this=exp.Star()), "copies")
        duplicates = (
            exp.select(*[col(k) for k in keys], counted)
            .from_(table.copy())
            .group_by(*[col(k) for k in keys])
            .having(exp.or_(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.convert(1)), _any_key_null(keys)))
            .limit(limit)
        )
        samples["consistency"] = _rows(connection, duplicates)
    violations = [p for p in (_violation(c) for c in schema.columns) if p is not None]
    if violations:
        offending = exp.select("*").from_(table.copy()).where(exp.or_(*violations)).limit(limit)
        samples["accuracy"] = _rows(connection, offending)
    nulls = exp.select("*").from_(table.copy()).where(
        exp.or_(*[_is_null(c.name) for c in schema.columns])
    ).limit(limit)
    samples["completeness"] = _rows(connection, nulls)
    return {name: rows for name, rows in samples.items() if rows}


def _rows(connection: duckdb.DuckDBPyConnection, query: exp.Select) -> list[dict]:
    cursor = connection.execute(query.sql(dialect="duckdb"))
    names = [d[0] for d in cursor.description]
    return [
        {n: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for n, v in zip(names, r)}
        for r in cursor.fetchall()
    ]
