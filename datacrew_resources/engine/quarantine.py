"""Split a checked staging file into the rows that keep the target_schema and the rest.

Used under `target_schema.on_violation: quarantine`. A row is quarantined when it
breaks any row rule of `schema_check.row_checks`: nulls in a non-nullable or key
column, a value constraint (min, max, accepted_values, pattern), or primary-key
uniqueness. For the key, **every** row sharing a key value is quarantined, not "all
but the first": the compiled query has no order that would make a first copy
meaningful (DuckDB may produce rows in any order across threads), and picking one
would silently publish an arbitrary winner. A spec that wants a winner says so with a
`dedupe` rule (keys and order) before the output. This also makes the kept rows
conform by construction and the quarantined count equal the check's count.

Each quarantined row carries `_violation`, the list of rules it broke, named
`kind(column)` (`min(id)`, `null(dep_delay)`, `primary_key(carrier, day)`), in the
order the target schema declares them. Both sides keep the staging file's row order.

The split is one pass with the same predicates as the check, into a temporary table
of the in-memory sandbox (which spills to the temp directory under its memory limit);
both outputs are then copied from it. It runs only when the check found something,
so a clean run costs nothing extra.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
from sqlglot import exp

from datacrew_resources.config.spec import QUARANTINE_COLUMN, TargetSchema

from .constraints import col
from .schema_check import ROW, columns_of, numbered_parquet, read_parquet, row_checks, with_key_counts
from .sql_guard import DIALECT

SPLIT_TABLE = "__datacrew_split"


@dataclass(frozen=True)
class QuarantineCounts:
    """What went to quarantine: rows (each once), rows per kind, rows per rule."""

    rows: int
    by_kind: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Split:
    """The staging file split in SPLIT_TABLE; `kept`/`quarantined` select each side in order."""

    names: list[str]
    counts: QuarantineCounts
    kept_rows: int

    @property
    def kept(self) -> exp.Select:
        return _side(self.names, keep=True)

    @property
    def quarantined(self) -> exp.Select:
        return _side(self.names, keep=False)


def split(con: duckdb.DuckDBPyConnection, stage: Path, schema: TargetSchema) -> Split:
    """Label every row of the (structurally valid) staging file with its broken rules."""
    actual = columns_of(con, read_parquet(stage))
    names = [n for n, _ in actual.values()]
    checks, pk = row_checks(schema)
    rows = with_key_counts(exp.select(exp.Star()).from_(numbered_parquet(stage, actual).subquery("f")), pk)
    labels = [
        exp.Case(ifs=[exp.If(this=c.condition.copy(), true=exp.Array(expressions=[exp.Literal.string(c.label)]))],
                 default=_empty_list())
        for c in checks
    ]
    violation = exp.func("flatten", exp.Array(expressions=labels)) if labels else _empty_list()
    body = exp.select(*(col(n) for n in names), violation.as_(QUARANTINE_COLUMN), exp.column(ROW)).from_(
        rows.subquery("r"))
    create = exp.Create(kind="TABLE", this=exp.Table(this=exp.to_identifier(SPLIT_TABLE)),
                        expression=body, properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                        replace=True)
    con.execute(create.sql(dialect=DIALECT))
    return Split(names, *_count(con, checks))


def empty_quarantine(stage: Path) -> exp.Select:
    """No row broke a rule: the quarantine output is the staging file's columns, no rows."""
    return (exp.select(exp.Star(), _empty_list().as_(QUARANTINE_COLUMN))
            .from_(exp.Table(this=read_parquet(stage))).limit(0))


def _count(con, checks) -> tuple[QuarantineCounts, int]:
    violation = exp.column(QUARANTINE_COLUMN)
    kinds = list(dict.fromkeys(c.kind for c in checks))
    aggregates: list[exp.Expression] = [
        exp.Count(this=exp.Star()),
        exp.func("count_if", exp.func("len", violation.copy()) > exp.convert(0)),
    ]
    for kind in kinds:
        labels = exp.Array(expressions=[exp.Literal.string(c.label) for c in checks if c.kind == kind])
        aggregates.append(exp.func("count_if", exp.func("list_has_any", violation.copy(), labels)))
    for check in checks:
        aggregates.append(exp.func("count_if", exp.func(
            "list_contains", violation.copy(), exp.Literal.string(check.label))))
    query = exp.select(*aggregates).from_(exp.Table(this=exp.to_identifier(SPLIT_TABLE)))
    total, bad, *rest = con.execute(query.sql(dialect=DIALECT)).fetchall()[0]
    by_kind = {k: int(n) for k, n in zip(kinds, rest[:len(kinds)]) if n}
    by_rule = {c.label: int(n) for c, n in zip(checks, rest[len(kinds):]) if n}
    return QuarantineCounts(int(bad or 0), by_kind, by_rule), int(total) - int(bad or 0)


def _side(names: list[str], *, keep: bool) -> exp.Select:
    violation = exp.column(QUARANTINE_COLUMN)
    broken = exp.func("len", violation.copy()) > exp.convert(0)
    columns = [col(n) for n in names] + ([] if keep else [violation])
    return (exp.select(*columns).from_(exp.Table(this=exp.to_identifier(SPLIT_TABLE)))
            .where(exp.not_(broken) if keep else broken).order_by(exp.column(ROW)))


def _empty_list() -> exp.Expression:
    return exp.cast(exp.Array(expressions=[]), "VARCHAR[]")
