"""Quality metrics of one table in a single SQL scan.

- completeness: share of non-null cells over the declared columns;
- consistency: the lower of key uniqueness and referential integrity.
  Key uniqueness is distinct present primary keys over rows, so every extra
  copy of a key and every row with a missing key part counts against it (1.0
  when no key is declared). Referential integrity is the share of rows with no
  orphan: a non-null value of a column with `references` that the referenced
  column does not hold (1.0 when nothing is referenced). The referenced
  relations are subqueries of the same SELECT (DuckDB plans each as one hash
  MARK join), so the table is still scanned once;
- accuracy: share of rows whose values meet every declared value constraint
  (min, max, accepted values, pattern searched in the value's text), with the
  very predicates the engine's schema check uses (`engine.constraints`); a
  NULL meets a value constraint, since nullability is completeness's concern.

An empty table scores 1.0 on all three: there is nothing wrong in it, and
the row count is reported beside the figures.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
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
    orphans: dict[str, int] = field(default_factory=dict)  # referencing column -> rows with an orphan value
    orphan_rows: int = 0  # rows with an orphan in any referencing column

    @property
    def inaccurate_rows(self) -> int:
        return round((1 - self.accuracy) * self.row_count)

    @property
    def key_uniqueness(self) -> float:
        return _share(self.row_count - self.duplicate_key_rows, self.row_count)

    @property
    def referential_integrity(self) -> float:
        return _share(self.row_count - self.orphan_rows, self.row_count)


def _share(good: int, total: int) -> float:
    return 1.0 if total == 0 else good / total


def split_reference(reference: str) -> tuple[str, str]:
    """'warehouse/airlines.carrier' -> ('warehouse/airlines', 'carrier')."""
    key, _, column = reference.partition(".")
    return key, column


def referenced_keys(schema: TargetSchema) -> set[str]:
    """The relation keys `schema`'s columns reference."""
    return {split_reference(c.references)[0] for c in schema.columns if c.references}


def _orphan(column: TargetColumn, reference_tables: Mapping[str, exp.Expression]) -> exp.Expression:
    """True where the column's value is present and absent from the referenced column.

    The subquery drops the referenced NULLs: `x NOT IN (..., NULL)` is never true.
    """
    key, target = split_reference(column.references)
    if key not in reference_tables:
        raise ValueError(f"column {column.name!r} references {key!r}, but no relation for it was given")
    present = exp.Not(this=_is_null(target))
    referenced = exp.select(col(target)).from_(_from(reference_tables[key].copy())).where(present)
    absent = exp.Not(this=exp.In(this=col(column.name), query=referenced.subquery()))
    return exp.and_(exp.Not(this=_is_null(column.name)), absent)


def _from(table: exp.Expression) -> exp.Expression:
    return table if isinstance(table, (exp.Table, exp.Subquery)) else exp.Table(this=table)


ORPHAN_FLAG = "__datacrew_orphan_"


def _with_orphan_flags(
    schema: TargetSchema, table: exp.Expression, reference_tables: Mapping[str, exp.Expression] | None
) -> tuple[exp.Expression, list[str]]:
    """`table` with one boolean column per referencing column (its row holds an orphan), so
    each reference is joined once however many figures read the flag; and those columns' names."""
    referencing = [c for c in schema.columns if c.references]
    if not referencing:
        return table, []
    flags = [
        exp.alias_(_orphan(column, reference_tables or {}), f"{ORPHAN_FLAG}{i}", quoted=True)
        for i, column in enumerate(referencing)
    ]
    flagged = exp.select(exp.Star(), *flags).from_(_from(table.copy()))
    return flagged.subquery("measured"), [c.name for c in referencing]


def _flag(index: int) -> exp.Column:
    return col(f"{ORPHAN_FLAG}{index}")


def _required(schema: TargetSchema, required: Collection[str] | None) -> list[str]:
    return [c.name for c in schema.columns] if required is None else list(required)


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


def metrics_query(
    schema: TargetSchema,
    table: exp.Expression,
    *,
    reference_tables: Mapping[str, exp.Expression] | None = None,
    required: Collection[str] | None = None,
) -> tuple[exp.Select, list[str]]:
    """The single SELECT computing every figure; returns it with the constrained column names."""
    table, referencing = _with_orphan_flags(schema, table, reference_tables)
    keys = schema.primary_key
    projections: list[exp.Expression] = [exp.alias_(exp.Count(this=exp.Star()), "rows")]
    null_counts = [exp.func("count_if", _is_null(name)) for name in _required(schema, required)]
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
    for i in range(len(referencing)):
        projections.append(exp.alias_(exp.func("count_if", _flag(i)), f"o_{i}"))
    if referencing:
        any_orphan = exp.or_(*[_flag(i) for i in range(len(referencing))])
        projections.append(exp.alias_(exp.func("count_if", any_orphan), "orphan_rows"))
    return exp.select(*projections).from_(table), constrained


def parquet_table(path: Path) -> exp.Expression:
    return exp.func("read_parquet", exp.convert(str(path)))


def measure(
    connection: duckdb.DuckDBPyConnection,
    schema: TargetSchema,
    table: exp.Expression,
    *,
    reference_tables: Mapping[str, exp.Expression] | None = None,
    required: Collection[str] | None = None,
) -> QualityMetrics:
    """Run the one-pass query over `table` (any FROM-able sqlglot expression).

    `reference_tables` maps each key the columns reference (`warehouse/airlines`) to a
    FROM-able expression in `connection` (see `quality.relations`); `required` names the
    columns completeness counts (default: all of the schema's).
    """
    query, constrained = metrics_query(schema, table, reference_tables=reference_tables, required=required)
    cursor = connection.execute(query.sql(dialect="duckdb"))
    names = [d[0] for d in cursor.description]
    # Aggregates over zero rows come back NULL: read them as zero.
    row = {name: int(value or 0) for name, value in zip(names, cursor.fetchall()[0])}
    rows = row["rows"]
    cells = rows * len(_required(schema, required))
    null_cells = row["null_cells"]
    duplicate_key_rows = rows - row["distinct_keys"] if schema.primary_key else 0
    violations = {name: row[f"v_{i + 1}"] for i, name in enumerate(constrained)}
    bad_rows = row.get("bad_rows", 0)
    referencing = [c.name for c in schema.columns if c.references]
    orphan_rows = row.get("orphan_rows", 0)
    return QualityMetrics(
        row_count=rows,
        completeness=_share(cells - null_cells, cells),
        consistency=min(_share(rows - duplicate_key_rows, rows), _share(rows - orphan_rows, rows)),
        accuracy=_share(rows - bad_rows, rows),
        null_cells=null_cells,
        cell_count=cells,
        duplicate_key_rows=duplicate_key_rows,
        constraint_violations=violations,
        orphans={name: row[f"o_{i}"] for i, name in enumerate(referencing)},
        orphan_rows=orphan_rows,
    )


def sample_failures(
    connection: duckdb.DuckDBPyConnection,
    schema: TargetSchema,
    table: exp.Expression,
    *,
    reference_tables: Mapping[str, exp.Expression] | None = None,
    required: Collection[str] | None = None,
    checks: Collection[str] = ("completeness", "consistency", "accuracy"),
    limit: int = SAMPLE_LIMIT,
) -> dict[str, list[dict]]:
    """A few offending rows for each of `checks`; only called when a figure is below 1.

    Under consistency: repeated or incomplete keys (key columns and `copies`; at most half
    of `limit` when columns reference others), then rows holding an orphan value.
    """
    samples: dict[str, list[dict]] = {}
    if "consistency" in checks:
        samples["consistency"] = _consistency_samples(connection, schema, table, reference_tables, limit)
    violations = [p for p in (_violation(c) for c in schema.columns) if p is not None]
    if violations and "accuracy" in checks:
        offending = exp.select("*").from_(_from(table.copy())).where(exp.or_(*violations)).limit(limit)
        samples["accuracy"] = _rows(connection, offending)
    names = _required(schema, required)
    if names and "completeness" in checks:
        nulls = exp.select("*").from_(_from(table.copy())).where(exp.or_(*[_is_null(n) for n in names])).limit(limit)
        samples["completeness"] = _rows(connection, nulls)
    return {name: rows for name, rows in samples.items() if rows}


def _consistency_samples(
    connection: duckdb.DuckDBPyConnection,
    schema: TargetSchema,
    table: exp.Expression,
    reference_tables: Mapping[str, exp.Expression] | None,
    limit: int,
) -> list[dict]:
    found: list[dict] = []
    keys = schema.primary_key
    referencing = [c for c in schema.columns if c.references]
    if keys:
        counted = exp.alias_(exp.Count(this=exp.Star()), "copies")
        duplicates = (
            exp.select(*[col(k) for k in keys], counted)
            .from_(_from(table.copy()))
            .group_by(*[col(k) for k in keys])
            .having(exp.or_(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.convert(1)), _any_key_null(keys)))
            .order_by(*[col(k) for k in keys])  # the same sample every run (a hash aggregate has no order)
            .limit((limit + 1) // 2 if referencing else limit)  # leave room for orphans
        )
        found += _rows(connection, duplicates)
    if referencing and len(found) < limit:
        any_orphan = exp.or_(*[_orphan(c, reference_tables or {}) for c in referencing])
        orphans = exp.select("*").from_(_from(table.copy())).where(any_orphan).limit(limit - len(found))
        found += _rows(connection, orphans)
    return found


def _rows(connection: duckdb.DuckDBPyConnection, query: exp.Select) -> list[dict]:
    cursor = connection.execute(query.sql(dialect="duckdb"))
    names = [d[0] for d in cursor.description]
    return [
        {n: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for n, v in zip(names, r)}
        for r in cursor.fetchall()
    ]
