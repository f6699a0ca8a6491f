"""Does a parquet file conform to a spec's `target_schema`?

Structure comes from the file footer: every declared column present, no undeclared
column, and each column exactly of its declared DuckDB type (the compiler already
converted the output, so anything else means the file was not produced by this spec).
Rows are checked in one SQL pass: nulls in non-nullable or primary-key columns,
duplicate primary keys, min/max, accepted_values and pattern (a regular expression
searched in the text of the value, as in JSON Schema; anchor it with ^...$ for a full
match). NULL values never violate value constraints. Each violation carries its count
and up to 5 sample rows, the first ones in file order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.spec import TargetColumn, TargetSchema

from .binder import first_line
from .sql_guard import DIALECT, check_type
from .values import jsonable

SAMPLE_ROWS = 5
ROW = "__datacrew_row"
PK_COUNT = "__datacrew_pk_count"


@dataclass(frozen=True)
class Violation:
    kind: str
    column: str
    count: int
    detail: str
    samples: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.column}: {self.detail}"


# Kinds that break the output contract whatever `on_violation` says.
CONTRACT_KINDS = frozenset({"missing_column", "extra_column", "type_mismatch", "null"})


@dataclass(frozen=True)
class SchemaReport:
    row_count: int
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.violations

    def failing(self, on_violation: str) -> list[Violation]:
        """The violations that stop a run: all of them, or only the contract's under `warn`."""
        if on_violation == "warn":
            return [v for v in self.violations if v.kind in CONTRACT_KINDS]
        return list(self.violations)

    def summary(self) -> str:
        """One line naming every problem."""
        if self.ok:
            return f"{self.row_count} rows conform to target_schema"
        return "; ".join(v.summary() for v in self.violations)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "row_count": self.row_count,
                "violations": [asdict(v) for v in self.violations]}


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def check_output(con: duckdb.DuckDBPyConnection, path: str | Path, schema: TargetSchema) -> SchemaReport:
    """Check the parquet file at `path` against `schema` (structure, then one pass over rows)."""
    scan = exp.Anonymous(this="read_parquet", expressions=[
        exp.Literal.string(str(path)),
        exp.EQ(this=exp.var("file_row_number"), expression=exp.true()),
    ])
    relation = con.sql(exp.select("*").from_(exp.Table(this=scan)).sql(dialect=DIALECT))
    actual = {
        n.lower(): (n, str(t))
        for n, t in zip(relation.columns, relation.types)
        if n != "file_row_number"
    }
    violations = _structure(con, actual, schema)
    broken = {v.column.lower() for v in violations}
    checkable = [c for c in schema.columns if c.name.lower() not in broken]
    checks = [check for column in checkable for check in _column_checks(column)]
    pk = [c for c in schema.primary_key if c.lower() not in broken]
    if pk:
        checks.append(("primary_key", ", ".join(pk), exp.column(PK_COUNT) > exp.convert(1),
                       "rows share a primary key value with another row"))
    row_count, found = _row_pass(con, scan, [n for n, _ in actual.values()], pk, checks)
    return SchemaReport(row_count, violations + found)


def _structure(con, actual: dict[str, tuple[str, str]], schema: TargetSchema) -> list[Violation]:
    violations = []
    declared = {c.name.lower() for c in schema.columns}
    for k, column in enumerate(schema.columns):
        found = actual.get(column.name.lower())
        if found is None:
            violations.append(Violation("missing_column", column.name, 1, "declared column is missing"))
            continue
        expected = _type_name(con, column.type, f"target_schema.columns[{k}].type")
        if found[1] != expected:
            detail = f"is {found[1]}, declared {expected}"
            violations.append(Violation("type_mismatch", column.name, 1, detail))
    for name, kind in actual.values():
        if name.lower() not in declared:
            violations.append(Violation("extra_column", name, 1, f"undeclared column of type {kind}"))
    return violations


def _type_name(con, text: str, field: str) -> str:
    typed_null = exp.cast(exp.null(), check_type(text, field=field))
    probe = exp.Anonymous(this="typeof", expressions=[typed_null])
    try:
        return con.execute(exp.select(probe).sql(dialect=DIALECT)).fetchall()[0][0]
    except duckdb.Error as e:
        raise ConfigError(f"is not a DuckDB type ({first_line(e)})", field=field, value=text) from None


def _column_checks(column: TargetColumn) -> list[tuple[str, str, exp.Expression, str]]:
    """(kind, column, condition that marks a violating row, what it means)."""
    value, checks = col(column.name), []
    if not column.nullable or column.primary_key:
        checks.append(("null", column.name, value.is_(exp.null()), "nulls in a non-nullable column"))
    if column.min is not None:
        checks.append(("min", column.name, value < exp.convert(column.min),
                       f"values below min {column.min:g}"))
    if column.max is not None:
        checks.append(("max", column.name, value > exp.convert(column.max),
                       f"values above max {column.max:g}"))
    if column.accepted_values is not None:
        accepted = [exp.convert(v) for v in column.accepted_values]
        checks.append(("accepted_values", column.name, exp.not_(value.isin(*accepted)),
                       f"values not in {column.accepted_values}"))
    if column.pattern is not None:
        matches = exp.Anonymous(this="regexp_matches", expressions=[
            exp.cast(value, "VARCHAR"), exp.Literal.string(column.pattern)])
        checks.append(("pattern", column.name, exp.not_(matches),
                       f"values not matching {column.pattern!r}"))
    return checks


def _row_pass(
    con, scan: exp.Expression, names: list[str], pk: list[str], checks: list
) -> tuple[int, list[Violation]]:
    """Counts in one hash-aggregate scan; a second, costlier scan only when something broke."""
    rows, clean = _clean_scan(con, scan, pk, checks)
    if clean:
        return rows, []
    return _violation_scan(con, scan, names, pk, checks)


def _clean_scan(con, scan: exp.Expression, pk: list[str], checks: list) -> tuple[int, bool]:
    """(rows, whether no check can fail): violation counts plus distinct keys, no window."""
    aggregates: list[exp.Expression] = [exp.Count(this=exp.Star())]
    row_checks = [c for c in checks if c[0] != "primary_key"]
    for _, _, condition, _ in row_checks:
        aggregates.append(exp.func("count_if", condition.copy()))
    if pk:
        key = exp.Struct(expressions=[col(c) for c in pk])
        aggregates.append(exp.Count(this=exp.Distinct(expressions=[key])))
    query = exp.select(*aggregates).from_(exp.Table(this=scan))
    try:
        result = con.execute(query.sql(dialect=DIALECT)).fetchall()[0]
    except duckdb.Error as e:
        raise ConfigError(f"constraints cannot be checked: {first_line(e)}",
                          field="target_schema") from None
    rows = result[0]
    broken = any(result[1:1 + len(row_checks)])
    duplicated = bool(pk) and result[-1] < rows
    return rows, not (broken or duplicated)


def _violation_scan(
    con, scan: exp.Expression, names: list[str], pk: list[str], checks: list
) -> tuple[int, list[Violation]]:
    """Exact counts and the first sample rows per check (min_by keeps memory bounded)."""
    items = [exp.Star(), exp.column("file_row_number").as_(ROW)]
    if pk:
        window = exp.Window(this=exp.Count(this=exp.Star()), partition_by=[col(c) for c in pk])
        items.append(window.as_(PK_COUNT))
    rows = exp.select(*items).from_(exp.Table(this=scan))
    sample = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(n, quoted=True), expression=col(n)) for n in names
    ])
    aggregates: list[exp.Expression] = [exp.Count(this=exp.Star())]
    for _, _, condition, _ in checks:
        count = exp.Count(this=exp.Star())
        aggregates.append(exp.Filter(this=count, expression=exp.Where(this=condition)))
        first = exp.Anonymous(this="min_by", expressions=[
            sample.copy(), exp.column(ROW), exp.convert(SAMPLE_ROWS)])
        aggregates.append(exp.Filter(this=first, expression=exp.Where(this=condition.copy())))
    query = exp.select(*aggregates).from_(rows.subquery("t"))
    try:
        result = con.execute(query.sql(dialect=DIALECT)).fetchall()[0]
    except duckdb.Error as e:
        raise ConfigError(f"constraints cannot be checked: {first_line(e)}",
                          field="target_schema") from None
    violations = []
    for k, (kind, column, _, detail) in enumerate(checks):
        count, samples = result[1 + 2 * k], result[2 + 2 * k]
        if count:
            samples = jsonable(samples or [])
            violations.append(Violation(kind, column, count, f"{count} {detail}", samples))
    return result[0], violations
