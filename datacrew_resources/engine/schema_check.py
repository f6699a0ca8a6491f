"""Does an output conform to a spec's `target_schema`?

`check_output` checks a parquet file (the engine's staging file, or a parquet output);
`check_relation` checks any FROM-able expression (a CSV or JSON reader, a partition
glob, a warehouse table), numbering rows in scan order.

Structure comes from the file footer: every declared column present, no undeclared
column, and each column exactly of its declared DuckDB type (the compiler already
converted the output, so anything else means the file was not produced by this spec).
Rows are checked in one SQL pass: nulls in non-nullable or primary-key columns,
duplicate primary keys, and the value constraints of `constraints.violations` (the
predicates the quality metrics use too). NULL values never violate value constraints.
Each violation carries its count and up to 5 sample rows, the first ones in file order.

File order comes from DuckDB's `file_row_number`. An output may have a column of that
very name (it is a legal column name), which hides DuckDB's: then rows are numbered
with `row_number() OVER ()` directly over the scan, which DuckDB streams in file order
(insertion order is preserved; the sandbox never turns that off).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line
from datacrew_resources.config.spec import TargetColumn, TargetSchema

from . import constraints
from .constraints import col
from .sql_guard import DIALECT, check_type
from .values import jsonable

SAMPLE_ROWS = 5
ROW = "__datacrew_row"
PK_COUNT = "__datacrew_pk_count"
FILE_ROW_NUMBER = "file_row_number"


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
STRUCTURE_KINDS = frozenset({"missing_column", "extra_column", "type_mismatch"})
CONTRACT_KINDS = STRUCTURE_KINDS | {"null"}


@dataclass(frozen=True)
class SchemaReport:
    row_count: int
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.violations

    def failing(self, on_violation: str) -> list[Violation]:
        """The violations that stop a run: all of them under `fail`; only the contract's
        under `warn`; under `quarantine` only the structural ones (rows that break a
        rule are moved aside instead)."""
        if on_violation == "warn":
            return [v for v in self.violations if v.kind in CONTRACT_KINDS]
        if on_violation == "quarantine":
            return [v for v in self.violations if v.kind in STRUCTURE_KINDS]
        return list(self.violations)

    @property
    def row_violations(self) -> list[Violation]:
        """Violations that belong to rows (the ones a quarantine can move aside)."""
        return [v for v in self.violations if v.kind not in STRUCTURE_KINDS]

    def summary(self) -> str:
        """One line naming every problem."""
        if self.ok:
            return f"{self.row_count} rows conform to target_schema"
        return "; ".join(v.summary() for v in self.violations)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "row_count": self.row_count,
                "violations": [asdict(v) for v in self.violations]}


@dataclass(frozen=True)
class _Check:
    """One count in the row pass: `condition` is true on a violating row."""

    kind: str
    column: str
    condition: exp.Expression
    detail: str
    field: str = ""  # where the constraint is declared, to blame it if it cannot be evaluated
    value: Any = ...

    @property
    def label(self) -> str:
        """How a quarantined row names the rule it broke: `min(id)`, `primary_key(a, b)`."""
        return f"{self.kind}({self.column})"


def check_output(con: duckdb.DuckDBPyConnection, path: str | Path, schema: TargetSchema) -> SchemaReport:
    """Check the parquet file at `path` against `schema` (structure, then one pass over rows)."""
    scan = read_parquet(path)
    actual = columns_of(con, scan)
    return _check(con, scan, numbered_parquet(path, actual), actual, schema, str(path))


def check_relation(
    con: duckdb.DuckDBPyConnection, table: exp.Expression, schema: TargetSchema, *, where: str
) -> SchemaReport:
    """Check any FROM-able expression against `schema`; `where` names it in errors."""
    actual = columns_of(con, table)
    return _check(con, table, numbered_scan(table), actual, schema, where)


def columns_of(con, table: exp.Expression) -> dict[str, tuple[str, str]]:
    """lower-case name -> (name, DuckDB type) of what `table` yields."""
    relation = con.sql(exp.select("*").from_(_from(table)).sql(dialect=DIALECT))
    return {n.lower(): (n, str(t)) for n, t in zip(relation.columns, relation.types)}


def row_checks(schema: TargetSchema, broken: set[str] = frozenset()) -> tuple[list[_Check], list[str]]:
    """(every row rule of `schema` as a predicate, the primary key) for columns not in
    `broken`. The primary-key predicate reads PK_COUNT, `count(*)` over the key."""
    checks = [
        check
        for k, column in enumerate(schema.columns) if column.name.lower() not in broken
        for check in _column_checks(column, f"target_schema.columns[{k}]")
    ]
    pk = [c for c in schema.primary_key if c.lower() not in broken]
    if pk:
        checks.append(_Check("primary_key", ", ".join(pk), exp.column(PK_COUNT) > exp.convert(1),
                             "rows share a primary key value with another row"))
    return checks, pk


def with_key_counts(rows: exp.Select, pk: list[str]) -> exp.Select:
    """`rows` plus PK_COUNT, how many rows share each row's key (what `primary_key` reads)."""
    if not pk:
        return rows
    window = exp.Window(this=exp.Count(this=exp.Star()), partition_by=[col(c) for c in pk])
    return rows.select(window.as_(PK_COUNT))


def _check(con, scan: exp.Expression, numbered: exp.Select, actual: dict[str, tuple[str, str]],
           schema: TargetSchema, where: str) -> SchemaReport:
    violations = structure_violations(con, actual, schema)
    checks, pk = row_checks(schema, {v.column.lower() for v in violations})
    names = [n for n, _ in actual.values()]
    row_count, found = _row_pass(con, scan, numbered, names, pk, checks, where)
    return SchemaReport(row_count, violations + found)


def _from(table: exp.Expression) -> exp.Expression:
    return table if isinstance(table, (exp.Table, exp.Subquery)) else exp.Table(this=table)


def read_parquet(path: str | Path, *options: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(str(path)), *options])


def numbered_parquet(path: str | Path, actual: dict[str, tuple[str, str]]) -> exp.Select:
    """Every column of the file plus ROW, the row's 0-based position in the file."""
    if FILE_ROW_NUMBER in actual:  # the file's own `file_row_number` column hides DuckDB's
        return numbered_scan(read_parquet(path))
    option = exp.EQ(this=exp.var(FILE_ROW_NUMBER), expression=exp.true())
    scan = exp.Table(this=read_parquet(path, option))
    return exp.select(exp.Star(), exp.column(FILE_ROW_NUMBER).as_(ROW)).from_(scan)


def numbered_scan(table: exp.Expression) -> exp.Select:
    """Every column plus ROW numbered in scan order (DuckDB streams a plain scan in order)."""
    position = exp.Window(this=exp.RowNumber()) - exp.convert(1)
    return exp.select(exp.Star(), position.as_(ROW)).from_(_from(table.copy()))


def structure_violations(con, actual: dict[str, tuple[str, str]], schema: TargetSchema) -> list[Violation]:
    violations = []
    declared = {c.name.lower() for c in schema.columns}
    expected_types = _type_names(con, schema)
    for k, column in enumerate(schema.columns):
        found = actual.get(column.name.lower())
        if found is None:
            violations.append(Violation("missing_column", column.name, 1, "declared column is missing"))
            continue
        expected = expected_types[k]
        if found[1] != expected:
            detail = f"is {found[1]}, declared {expected}"
            violations.append(Violation("type_mismatch", column.name, 1, detail))
    for name, kind in actual.values():
        if name.lower() not in declared:
            violations.append(Violation("extra_column", name, 1, f"undeclared column of type {kind}"))
    return violations


def _type_names(con, schema: TargetSchema) -> list[str]:
    """DuckDB's spelling of every declared type, in one query; when one is no type, the
    column-by-column probe names it."""
    fields = [f"target_schema.columns[{k}].type" for k in range(len(schema.columns))]
    probes = [exp.Anonymous(this="typeof", expressions=[exp.cast(exp.null(), check_type(c.type, field=f))])
              for c, f in zip(schema.columns, fields)]
    if not probes:
        return []
    try:
        return list(con.execute(exp.select(*probes).sql(dialect=DIALECT)).fetchall()[0])
    except duckdb.Error:
        return [_type_name(con, c.type, f) for c, f in zip(schema.columns, fields)]


def _type_name(con, text: str, field: str) -> str:
    typed_null = exp.cast(exp.null(), check_type(text, field=field))
    probe = exp.Anonymous(this="typeof", expressions=[typed_null])
    try:
        return con.execute(exp.select(probe).sql(dialect=DIALECT)).fetchall()[0][0]
    except duckdb.Error as e:
        raise ConfigError(f"is not a DuckDB type ({first_line(e)})", field=field, value=text) from None


def _column_checks(column: TargetColumn, where: str) -> list[_Check]:
    """The column's constraints (see `constraints.violations`) with what each count means."""
    checks = []
    for kind, condition in constraints.violations(column).items():
        attribute = "nullable" if kind == constraints.NULL else kind  # value kinds are named as declared
        checks.append(_Check(kind, column.name, condition, _detail(kind, column),
                             field=f"{where}.{attribute}", value=getattr(column, attribute)))
    return checks


def _detail(kind: str, column: TargetColumn) -> str:
    if kind == constraints.NULL:
        return "nulls in a non-nullable column"
    if kind == "min":
        return f"values below min {column.min:g}"
    if kind == "max":
        return f"values above max {column.max:g}"
    if kind == "accepted_values":
        return f"values not in {column.accepted_values}"
    return f"values not matching {column.pattern!r}"


def _row_pass(
    con, scan: exp.Expression, numbered: exp.Select, names: list[str], pk: list[str],
    checks: list[_Check], path: str,
) -> tuple[int, list[Violation]]:
    """Counts in one hash-aggregate scan; a second, costlier scan only when something broke."""
    try:
        rows, clean = _clean_scan(con, scan, pk, checks)
        if clean:
            return rows, []
        return _violation_scan(con, numbered, names, pk, checks)
    except duckdb.Error as e:
        raise _cannot_check(con, scan, checks, path, e) from None


def _clean_scan(con, scan: exp.Expression, pk: list[str], checks: list[_Check]) -> tuple[int, bool]:
    """(rows, whether no check can fail): violation counts plus distinct keys, no window."""
    aggregates: list[exp.Expression] = [exp.Count(this=exp.Star())]
    row_checks = [c for c in checks if c.kind != "primary_key"]
    for check in row_checks:
        aggregates.append(exp.func("count_if", check.condition.copy()))
    if pk:
        key = exp.Struct(expressions=[col(c) for c in pk])
        aggregates.append(exp.Count(this=exp.Distinct(expressions=[key])))
    query = exp.select(*aggregates).from_(_from(scan.copy()))
    result = con.execute(query.sql(dialect=DIALECT)).fetchall()[0]
    rows = result[0]
    broken = any(result[1:1 + len(row_checks)])
    duplicated = bool(pk) and result[-1] < rows
    return rows, not (broken or duplicated)


def _violation_scan(
    con, numbered: exp.Select, names: list[str], pk: list[str], checks: list[_Check]
) -> tuple[int, list[Violation]]:
    """Exact counts and the first sample rows per check (min_by keeps memory bounded)."""
    rows = with_key_counts(exp.select(exp.Star()).from_(numbered.subquery("f")), pk)
    sample = exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(n, quoted=True), expression=col(n)) for n in names
    ])
    aggregates: list[exp.Expression] = [exp.Count(this=exp.Star())]
    for check in checks:
        count = exp.Count(this=exp.Star())
        aggregates.append(exp.Filter(this=count, expression=exp.Where(this=check.condition.copy())))
        first = exp.Anonymous(this="min_by", expressions=[
            sample.copy(), exp.column(ROW), exp.convert(SAMPLE_ROWS)])
        aggregates.append(exp.Filter(this=first, expression=exp.Where(this=check.condition.copy())))
    query = exp.select(*aggregates).from_(rows.subquery("t"))
    result = con.execute(query.sql(dialect=DIALECT)).fetchall()[0]
    found = []
    for k, check in enumerate(checks):
        count, samples = result[1 + 2 * k], result[2 + 2 * k]
        if count:
            samples = jsonable(samples or [])
            found.append(Violation(check.kind, check.column, count, f"{count} {check.detail}", samples))
    return result[0], found


def _cannot_check(con, scan: exp.Expression, checks: list[_Check], path: str,
                  error: duckdb.Error) -> ConfigError:
    """Blame the declared constraint DuckDB cannot evaluate (an RE2-invalid pattern, an
    accepted value of the wrong type), probing each one on the first row; else the file."""
    first_row = exp.select("*").from_(_from(scan.copy())).limit(1).subquery("r")
    for check in checks:
        if not check.field:
            continue
        probe = exp.select(exp.func("count_if", check.condition.copy())).from_(first_row.copy())
        try:
            con.execute(probe.sql(dialect=DIALECT)).fetchall()
        except duckdb.Error as e:
            return ConfigError(f"cannot be checked: {first_line(e)}", field=check.field, value=check.value)
    return ConfigError(f"constraints cannot be checked: {first_line(error)}", field="target_schema",
                       value=path)
