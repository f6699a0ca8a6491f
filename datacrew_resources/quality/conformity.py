"""Schema conformity of an output: its columns and DuckDB types against `target_schema`.

Structure only, so nothing is scanned: a parquet footer, a table's DESCRIBE, a CSV or
JSON header. The comparison is the engine's own (`engine.schema_check`), the one that
refuses a non-conforming write. An output is checked part by part where its parts are
written apart (one file per Dagster partition): DuckDB reads a set of files with the
first file's columns and casts the others to them, so a slice written under an older
spec would otherwise hide behind the newest one.

CSV and JSON are read with the declared types (a value that does not convert fails
the read), so for them conformity is the header's names.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from sqlglot import exp

from ..config import TargetSchema
from ..engine.schema_check import Violation, columns_of, structure_violations
from ..engine.sql_guard import DIALECT
from ..engine.values import rows_as_dicts

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class OutputPart:
    """A piece of an output whose structure is checked on its own."""

    where: str  # a file or table, as reported
    table: exp.Expression  # FROM-able
    header_names: list[str] | None = None  # CSV/JSON: the names the file holds


@dataclass(frozen=True)
class Conformity:
    declared_columns: int
    violations: list[dict]  # {"where", "kind", "column", "detail"}
    sample_rows: list[dict]  # the first rows of the first non-conforming typed part

    @property
    def ok(self) -> bool:
        return not self.violations

    def count(self, kind: str) -> int:
        return sum(1 for v in self.violations if v["kind"] == kind)

    @property
    def value(self) -> float:
        """Share of checked columns that conform: declared, present, of the declared type."""
        broken = {v["column"].lower() for v in self.violations if v["kind"] != "extra_column"}
        extra = {v["column"].lower() for v in self.violations if v["kind"] == "extra_column"}
        checked = self.declared_columns + len(extra)
        return round((self.declared_columns - len(broken)) / checked, 6)


def schema_conformity(con: duckdb.DuckDBPyConnection, parts: list[OutputPart], schema: TargetSchema) -> Conformity:
    violations: list[dict] = []
    samples: list[dict] = []
    for part in parts:
        found = _part_violations(con, part, schema)
        if found and not samples and part.header_names is None:  # a text reader needs the declared columns
            samples = _first_rows(con, part.table)
        violations += [{"where": part.where, "kind": v.kind, "column": v.column, "detail": v.detail} for v in found]
    return Conformity(len(schema.columns), violations, samples)


def _part_violations(con: duckdb.DuckDBPyConnection, part: OutputPart, schema: TargetSchema) -> list[Violation]:
    if part.header_names is not None:
        found = {n.lower() for n in part.header_names}
        declared = {c.name.lower() for c in schema.columns}
        missing = [Violation("missing_column", c.name, 1, "declared column is missing")
                   for c in schema.columns if c.name.lower() not in found]
        extra = [Violation("extra_column", n, 1, "undeclared column") for n in part.header_names if n.lower() not in declared]
        if missing or extra:
            return missing + extra
    return structure_violations(con, columns_of(con, part.table), schema)


def _first_rows(con: duckdb.DuckDBPyConnection, table: exp.Expression) -> list[dict]:
    """A few rows as the part holds them, to show what the columns really are."""
    source = table if isinstance(table, exp.Table) else exp.Table(this=table)
    cursor = con.execute(exp.select("*").from_(source.copy()).limit(SAMPLE_ROWS).sql(dialect=DIALECT))
    return rows_as_dicts([d[0] for d in cursor.description], cursor.fetchall())
