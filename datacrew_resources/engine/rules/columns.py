"""Row and column shaping: filter, derive, select, rename, cast, drop."""

from __future__ import annotations

from sqlglot import exp

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.spec import CastRule, DeriveRule, DropRule, FilterRule, RenameRule, SelectRule

from ..constraints import col
from ..sql_guard import check_type
from .chain import Chain, check_unique, find, names


def filter_rows(chain: Chain, rule: FilterRule, i: int) -> None:
    where = chain.expression(rule.filter, f"rules[{i}].filter")
    chain.add(f"rule_{i}", exp.select("*").from_(chain.last).where(where), f"rules[{i}].filter", rule.filter)


def derive(chain: Chain, rule: DeriveRule, i: int) -> None:
    # One CTE per entry: each derived column may use the ones derived before it.
    for j, (target, text) in enumerate(rule.derive.items()):
        where = f"rules[{i}].derive.{target}"
        value = chain.expression(text, where).as_(target, quoted=True)
        existing = find(chain.columns, target)
        items = [value if existing and c == existing[0] else col(c) for c in names(chain.columns)]
        if existing is None:
            items.append(value)
        chain.add(f"rule_{i}_{j}", exp.select(*items).from_(chain.last), where, text)


def select(chain: Chain, rule: SelectRule, i: int) -> None:
    where = f"rules[{i}].select"
    kept = [chain.require(name, where) for name in rule.select]
    check_unique(kept, where)
    chain.add(f"rule_{i}", exp.select(*map(col, kept)).from_(chain.last), where, rule.select)


def drop(chain: Chain, rule: DropRule, i: int) -> None:
    where = f"rules[{i}].drop"
    dropped = {chain.require(name, where).lower() for name in rule.drop}
    kept = [c for c in names(chain.columns) if c.lower() not in dropped]
    if not kept:
        raise ConfigError("would drop every column", field=where, value=rule.drop)
    chain.add(f"rule_{i}", exp.select(*map(col, kept)).from_(chain.last), where, rule.drop)


def rename(chain: Chain, rule: RenameRule, i: int) -> None:
    where = f"rules[{i}].rename"
    mapping = {chain.require(old, where).lower(): new for old, new in rule.rename.items()}
    items = [
        col(name).as_(mapping[name.lower()], quoted=True) if name.lower() in mapping else col(name)
        for name in names(chain.columns)
    ]
    check_unique([item.alias_or_name for item in items], where)
    chain.add(f"rule_{i}", exp.select(*items).from_(chain.last), where, rule.rename)


def cast(chain: Chain, rule: CastRule, i: int) -> None:
    converted = {}
    for name, kind in rule.cast.items():
        found = chain.require(name, f"rules[{i}].cast")
        converted[found.lower()] = exp.cast(col(found), check_type(kind, field=f"rules[{i}].cast.{name}"))
    chain.replace(f"rule_{i}", converted, f"rules[{i}].cast", rule.cast)
