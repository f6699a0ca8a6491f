"""The chain of CTEs a spec compiles into, and the column checks every rule shares.

Each rule appends one CTE (or a few) reading the previous one; after each, the whole
query so far is bound against empty copies of the sources, so the columns and types
after every rule are DuckDB's own answer and a rule that does not bind is reported
with its field and text.
"""

from __future__ import annotations

import re

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line

from ..binder import Binder
from ..constraints import col
from ..sources import view_identifier
from ..sql_guard import check_expression, check_ordering

Columns = list[tuple[str, str]]

NUMERIC_TYPE = re.compile(
    r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$"
)
EXACT_NUMERIC_TYPE = re.compile(r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|DECIMAL\(\d+,\d+\))$")


def names(columns: Columns) -> list[str]:
    return [name for name, _ in columns]


def find(columns: Columns, name: str) -> tuple[str, str] | None:
    """DuckDB identifiers are case-insensitive, so lookups are too."""
    return next((c for c in columns if c[0].lower() == name.lower()), None)


def known(columns: Columns) -> str:
    shown = names(columns)
    return f"(known: {', '.join(shown[:30])}{', ...' if len(shown) > 30 else ''})"


def check_unique(column_names: list[str], field: str) -> None:
    seen: set[str] = set()
    for name in column_names:
        if name.lower() in seen:
            raise ConfigError("column would appear twice", field=field, value=name)
        seen.add(name.lower())


class Chain:
    """The CTEs built so far and the columns (name, type) after the last one."""

    def __init__(self, binder: Binder, base: str):
        self.binder = binder
        self.ctes: list[tuple[str, exp.Query]] = []
        self.columns: Columns = []
        self.add("source", exp.select("*").from_(exp.Table(this=view_identifier(base))), "sources[0]", base)

    @property
    def last(self) -> exp.Table:
        return exp.to_table(self.ctes[-1][0])

    @property
    def cte_names(self) -> set[str]:
        return {name for name, _ in self.ctes}

    def query(self, select: exp.Select) -> exp.Select:
        for name, body in self.ctes:
            select = select.with_(name, as_=body)
        return select

    def add(self, name: str, body: exp.Query, field: str, value: object) -> None:
        """Append one CTE and bind the chain, so errors carry the rule (`field`, `value`:
        its text as the spec wrote it) that caused them."""
        self.ctes.append((name, body))
        try:
            self.columns = self.binder.columns(self.query(exp.select("*").from_(name)))
        except duckdb.Error as e:
            raise ConfigError(f"does not bind: {first_line(e)}", field=field, value=value) from None

    def replace(self, name: str, items: dict[str, exp.Expression], field: str, value: object) -> None:
        """A CTE keeping every column in place, with `items` (by lower-case name) replaced."""
        select = exp.select(*(
            items[c.lower()].as_(c, quoted=True) if c.lower() in items else col(c)
            for c in names(self.columns)
        )).from_(self.last)
        self.add(name, select, field, value)

    def require(self, name: str, field: str) -> str:
        found = find(self.columns, name)
        if found is None:
            raise ConfigError(f"unknown column {known(self.columns)}", field=field, value=name)
        return found[0]

    def type_of(self, name: str) -> str:
        found = find(self.columns, name)
        assert found is not None, name
        return found[1]

    def expression(self, text: str, field: str) -> exp.Expression:
        """A guarded user expression whose column references all exist."""
        return self._columns_exist(check_expression(text, field=field), text, field)

    def ordering(self, text: str, field: str) -> exp.Ordered:
        """A guarded ORDER BY term whose column references all exist."""
        return self._columns_exist(check_ordering(text, field=field), text, field)

    def _columns_exist(self, tree, text: str, field: str):
        for column in tree.find_all(exp.Column):
            name = column.parts[0].name
            if not _lambda_parameter(column, name) and find(self.columns, name) is None:
                raise ConfigError(f"unknown column {name!r} {known(self.columns)}", field=field, value=text)
        return tree


def _lambda_parameter(column: exp.Column, name: str) -> bool:
    """`x` in `list_transform(l, x -> x + 1)` is a lambda parameter, not a column."""
    parent = column.parent
    while parent is not None:
        if isinstance(parent, exp.Lambda) and any(p.name == name for p in parent.expressions):
            return True
        parent = parent.parent
    return False
