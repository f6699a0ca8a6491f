"""sql: one whole SELECT, written by a person or an LLM, that replaces the relation.

The text passes `sql_guard.check_query` with the spec's source keys and `previous` as
the only tables it may read. `previous` is the relation the rules before this one
produced (the source itself when the sql rule comes first): the compiler adds it as
the first CTE of the query's own WITH, `previous AS (SELECT * FROM <last CTE>)`, so
it reads exactly like any CTE (`previous.col`, joins, subqueries) and the query's
own CTEs may use it. The query may not define a CTE called `previous` itself. Its
result columns (as DuckDB names them: duplicates become `x_1`) are the relation after
the rule.
"""

from __future__ import annotations

from sqlglot import exp

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.spec import SqlRule, TransformationSpec

from ..sql_guard import check_query
from .chain import Chain

PREVIOUS = "previous"


def guarded(rule: SqlRule, i: int, spec: TransformationSpec) -> exp.Query:
    """The rule's query after the guard; a CTE named `previous` is refused."""
    where = f"rules[{i}].sql"
    tree = check_query(rule.sql, tables=[*spec.sources, PREVIOUS], field=where)
    for cte in tree.find_all(exp.CTE):
        if cte.alias_or_name.lower() == PREVIOUS:
            raise ConfigError(f"the CTE name {PREVIOUS!r} is reserved for the rules so far",
                              field=where, value=rule.sql)
    return tree


def sources_read(rule: SqlRule, i: int, spec: TransformationSpec) -> list[str]:
    """The spec's source keys the rule's query reads, in the order it names them."""
    keys = {key.lower(): key for key in spec.sources}
    tables = guarded(rule, i, spec).find_all(exp.Table)
    return list(dict.fromkeys(keys[t.name.lower()] for t in tables if t.name.lower() in keys))


def sql(chain: Chain, rule: SqlRule, i: int, spec: TransformationSpec) -> None:
    tree = guarded(rule, i, spec)
    previous = exp.CTE(this=exp.select("*").from_(chain.last), alias=exp.TableAlias(this=exp.to_identifier(PREVIOUS)))
    with_ = tree.args.get("with_")
    if isinstance(with_, exp.With):
        with_.set("expressions", [previous, *with_.expressions])
    else:
        tree.set("with_", exp.With(expressions=[previous]))
    chain.add(f"rule_{i}", tree, f"rules[{i}].sql", rule.sql)
