"""join: the relation so far (`l`) with one more source (`r`) on equal keys.

inner/left/right/full keep the left columns and the right ones (all but the keys, or
`columns`, with `prefix`); for right and full joins a left key column takes the right
key where the left row is missing, so unmatched right rows keep their key. semi and
anti keep only the left columns (rows with / without a match; a NULL key never matches).
"""

from __future__ import annotations

from sqlglot import exp

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.spec import JoinRule

from ..constraints import col
from ..sources import SourceRef, view_identifier
from .chain import Chain, check_unique, find, known, names


def join(chain: Chain, rule: JoinRule, i: int, right: SourceRef) -> None:
    spec, where = rule.join, f"rules[{i}].join"
    right_columns = list(right.columns)
    pairs = list(spec.on.items()) if isinstance(spec.on, dict) else [(k, k) for k in spec.on]
    if not pairs:
        raise ConfigError("needs at least one key", field=f"{where}.on", value=spec.on)
    keys = []
    for left_key, right_key in pairs:
        left_name = chain.require(left_key, f"{where}.on")
        right_name = find(right_columns, right_key)
        if right_name is None:
            raise ConfigError(f"unknown column in {spec.source} {known(right_columns)}",
                              field=f"{where}.on", value=right_key)
        keys.append((left_name, right_name[0]))
    condition = exp.and_(*(col(l, "l").eq(col(r, "r")) for l, r in keys))
    items: list[exp.Expression] = []
    coalesce_keys = {l.lower(): r for l, r in keys} if spec.how in ("right", "full") else {}
    for name in names(chain.columns):
        right_key = coalesce_keys.get(name.lower())
        # Unmatched right rows have NULL left keys: take the key from the right side.
        value = col(name, "l")
        if right_key:
            value = exp.Coalesce(this=value, expressions=[col(right_key, "r")])
        items.append(value.as_(name, quoted=True))
    if spec.how in ("semi", "anti"):
        if spec.columns:
            raise ConfigError(f"a {spec.how} join keeps only the left columns", field=f"{where}.columns",
                              value=spec.columns)
    else:
        items += _right_columns(chain, spec, right_columns, {r.lower() for _, r in keys}, where)
    check_unique([item.alias_or_name for item in items], where)
    select = exp.select(*items).from_(chain.last.as_("l")).join(
        exp.Table(this=view_identifier(spec.source)).as_("r"), on=condition, join_type=spec.how
    )
    chain.add(f"rule_{i}", select, where, spec.model_dump(exclude_defaults=True))


def _right_columns(chain: Chain, spec, right_columns, right_keys: set[str], where: str) -> list[exp.Expression]:
    kept = spec.columns if spec.columns is not None else [
        c for c in names(right_columns) if c.lower() not in right_keys
    ]
    items = []
    for name in kept:
        found = find(right_columns, name)
        if found is None:
            raise ConfigError(f"unknown column in {spec.source} {known(right_columns)}",
                              field=f"{where}.columns", value=name)
        out = spec.prefix + found[0]
        if find(chain.columns, out) is not None:
            raise ConfigError(
                f"column from {spec.source} clashes with an existing column; set join.prefix "
                "or join.columns", field=where, value=out)
        items.append(col(found[0], "r").as_(out, quoted=True))
    return items
