"""Rule compilation, one module per family; `apply_rules` runs a spec's rules in order.

- `chain`: the CTE chain, column lookups and the checks every rule shares;
- `columns`: filter, derive, select, drop, rename, cast;
- `aggregate`: group_by + aggregate;
- `join`: join with another source;
- `cleansing`: dedupe, fill_null;
- `normalize`: trim/case/categories and min-max / z-score scaling;
- `sql`: a whole guarded SELECT over the sources and `previous`.
"""

from __future__ import annotations

from collections.abc import Mapping

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.spec import (
    AggregateRule,
    CastRule,
    DedupeRule,
    DeriveRule,
    DropRule,
    FillNullRule,
    FilterRule,
    GroupByRule,
    JoinRule,
    NormalizeRule,
    RenameRule,
    SelectRule,
    SqlRule,
    TransformationSpec,
)

from ..sources import SourceRef
from . import sql as sql_rule
from .aggregate import aggregate
from .chain import NUMERIC_TYPE, Chain, find, known, names
from .cleansing import dedupe, fill_null
from .columns import cast, derive, drop, filter_rows, rename, select
from .join import join
from .normalize import normalize

# Rules that need only the chain, the rule and its index.
SIMPLE = {
    FilterRule: filter_rows, DeriveRule: derive, SelectRule: select, DropRule: drop, RenameRule: rename,
    CastRule: cast, DedupeRule: dedupe, FillNullRule: fill_null, NormalizeRule: normalize,
}


def sources_read(spec: TransformationSpec) -> list[str]:
    """The spec's sources the compiled query reads: the first, joined ones, and those
    a `sql` rule names (its text is guarded here, so a bad one fails before binding)."""
    keys = [spec.sources[0]]
    for i, rule in enumerate(spec.rules):
        if isinstance(rule, JoinRule):
            keys.append(rule.join.source)
        elif isinstance(rule, SqlRule):
            keys += sql_rule.sources_read(rule, i, spec)
    return list(dict.fromkeys(keys))


def apply_rules(chain: Chain, spec: TransformationSpec, sources: Mapping[str, SourceRef]) -> None:
    rules, i = spec.rules, 0
    while i < len(rules):
        rule = rules[i]
        if isinstance(rule, GroupByRule):
            if i + 1 >= len(rules) or not isinstance(rules[i + 1], AggregateRule):
                raise ConfigError("must be followed by an aggregate rule", field=f"rules[{i}].group_by",
                                  value=rule.group_by)
            aggregate(chain, rule.group_by, rules[i + 1], i + 1, f"rules[{i}].group_by")
            i += 2
            continue
        if isinstance(rule, AggregateRule):
            aggregate(chain, [], rule, i, f"rules[{i}].aggregate")
        elif isinstance(rule, JoinRule):
            join(chain, rule, i, sources[rule.join.source])
        elif isinstance(rule, SqlRule):
            sql_rule.sql(chain, rule, i, spec)
        else:
            SIMPLE[type(rule)](chain, rule, i)
        i += 1


__all__ = ["NUMERIC_TYPE", "Chain", "apply_rules", "find", "known", "names", "sources_read"]
