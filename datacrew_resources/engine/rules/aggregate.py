"""group_by + aggregate (or a global aggregate): one row per group."""

from __future__ import annotations

from sqlglot import exp

from datacrew_resources.config.spec import AggregateRule

from ..constraints import col
from .chain import Chain, check_unique


def aggregate(chain: Chain, keys: list[str], rule: AggregateRule, i: int, key_field: str) -> None:
    groups = [chain.require(name, key_field) for name in keys]
    values = [
        chain.expression(text, f"rules[{i}].aggregate.{name}").as_(name, quoted=True)
        for name, text in rule.aggregate.items()
    ]
    check_unique(groups + list(rule.aggregate), f"rules[{i}].aggregate")
    select = exp.select(*map(col, groups), *values).from_(chain.last)
    if groups:
        select = select.group_by(*map(col, groups))
    chain.add(f"rule_{i}", select, f"rules[{i}].aggregate", rule.aggregate)
