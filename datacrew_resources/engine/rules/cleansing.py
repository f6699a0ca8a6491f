"""Cleansing: dedupe and fill_null.

dedupe keeps one row per distinct `keys` (NULL keys group together, as in GROUP BY):
the first in `order`, with every other column, ascending, NULLS LAST, as the
tie-breaker. So the kept row is deterministic whatever the data's physical order and
however many threads run; without `order` it is the smallest row by the non-key
columns in their current order.

fill_null replaces NULLs of a column by a literal: `COALESCE(col, CAST(value AS type))`
with the column's type after the rules so far, so the column keeps its type. The
value is built as a sqlglot literal (never spliced into SQL text) and converted at
compile time: a value that does not convert, or an exact number (integer, decimal)
that would change in conversion (1.5 into an INTEGER column), is a compile error.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line
from datacrew_resources.config.spec import DedupeRule, FillNullRule

from ..constraints import col
from ..sql_guard import DIALECT
from .chain import EXACT_NUMERIC_TYPE, Chain, check_unique, names


def dedupe(chain: Chain, rule: DedupeRule, i: int) -> None:
    where = f"rules[{i}].dedupe"
    keys = [chain.require(name, f"{where}.keys") for name in rule.dedupe.keys]
    check_unique(keys, f"{where}.keys")
    order = [chain.ordering(text, f"{where}.order[{j}]") for j, text in enumerate(rule.dedupe.order)]
    key_set = {k.lower() for k in keys}
    ties = [exp.Ordered(this=col(c), desc=False, nulls_first=False)
            for c in names(chain.columns) if c.lower() not in key_set]
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(k) for k in keys],
        order=exp.Order(expressions=order + ties) if order or ties else None,
    )
    select = exp.select("*").from_(chain.last).qualify(window.eq(1))
    chain.add(f"rule_{i}", select, where, rule.dedupe.model_dump(exclude_defaults=True))


def fill_null(chain: Chain, rule: FillNullRule, i: int) -> None:
    where = f"rules[{i}].fill_null"
    filled = {}
    for name, value in rule.fill_null.items():
        found = chain.require(name, where)
        field = f"{where}.{name}"
        kind = chain.type_of(found)
        fallback = _converted(chain, literal(value, field=field), value, kind, field)
        filled[found.lower()] = exp.Coalesce(this=col(found), expressions=[fallback])
    chain.replace(f"rule_{i}", filled, where, rule.fill_null)


def literal(value: Any, *, field: str) -> exp.Expression:
    """A YAML scalar as a SQL literal: string, number, boolean, date or timestamp."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError("must be a finite number", field=field, value=value)
        return exp.Literal.number(repr(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return exp.Literal.string(value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat())
    problem = "must not be null" if value is None else "must be a string, number, boolean or date"
    raise ConfigError(problem, field=field, value=value)


def _converted(chain: Chain, value: exp.Expression, raw: Any, kind: str, field: str) -> exp.Cast:
    """CAST(value AS kind), evaluated once now so a bad value fails at compile time."""
    try:
        target = exp.DataType.build(kind, dialect=DIALECT)
    except Exception:  # noqa: BLE001 - sqlglot raises several types for types it cannot spell
        raise ConfigError(f"cannot fill a column of type {kind}", field=field, value=raw) from None
    cast = exp.cast(value.copy(), target)
    try:
        chain.binder.value(cast)
        exact = EXACT_NUMERIC_TYPE.match(kind) and not isinstance(raw, (bool, str))
        if exact and not chain.binder.value(cast.copy().eq(value.copy())):
            changed = chain.binder.value(cast)
            raise ConfigError(f"would change to {changed} as {kind}", field=field, value=raw)
    except duckdb.Error as e:
        raise ConfigError(f"does not convert to {kind} ({first_line(e)})", field=field, value=raw) from None
    return cast
