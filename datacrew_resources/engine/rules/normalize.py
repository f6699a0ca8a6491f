"""normalize: text clean-up, category standardisation and numeric scaling, in one CTE.

Text operations need VARCHAR columns and apply in a fixed order whatever the YAML
order: `trim` (spaces at both ends, as DuckDB's trim), then `lower` or `upper` (not
both), then `categories`: the value, trimmed and lower-cased, is compared with each
canonical value and each variant trimmed and lower-cased; a match becomes the
canonical value exactly as the spec writes it, anything else is left as it is after
trim/case. A variant listed under two canonical values is an error.

Scaling needs a numeric column, produces DOUBLE and is computed over the whole
relation as it stands at this rule (window aggregates `OVER ()`, after the filters
before it):

- `min_max`: (x - min) / (max - min), in [0, 1];
- `z_score`: (x - mean) / stddev_samp (the sample standard deviation, n - 1).

NULL stays NULL. When the spread is zero or undefined (max = min, a single non-NULL
value, stddev 0 or NULL) every non-NULL value scales to 0.0 rather than NaN or NULL.
A column is in at most one of `min_max` and `z_score`.
"""

from __future__ import annotations

from sqlglot import exp

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.spec import NormalizeRule

from ..constraints import col
from .chain import NUMERIC_TYPE, Chain

# op -> the family within which a column may appear in only one op
TEXT_OPS = {"trim": None, "lower": "case", "upper": "case"}
SCALINGS = {"min_max": "scaling", "z_score": "scaling"}


def normalize(chain: Chain, rule: NormalizeRule, i: int) -> None:
    spec, where = rule.normalize, f"rules[{i}].normalize"
    columns = _Columns(chain, where)
    for op, family in TEXT_OPS.items():
        for name in getattr(spec, op):
            key = columns.take(name, op, family, text=True)
            columns.values[key] = exp.func(op, columns.values[key])
    for name, mapping in spec.categories.items():
        key = columns.take(name, "categories", None, text=True)
        columns.values[key] = _categories(columns.values[key], mapping, f"{where}.categories.{name}")
    for op, family in SCALINGS.items():
        for name in getattr(spec, op):
            key = columns.take(name, op, family, text=False)
            columns.values[key] = (_min_max if op == "min_max" else _z_score)(columns.values[key])
    chain.replace(f"rule_{i}", columns.values, where, spec.model_dump(exclude_defaults=True))


class _Columns:
    """The expression built so far per column (by lower-case name), and the checks on
    each column an op names: it exists, has the right type, is not listed twice."""

    def __init__(self, chain: Chain, where: str):
        self.chain, self.where = chain, where
        self.values: dict[str, exp.Expression] = {}
        self._owner: dict[tuple[str, str], str] = {}  # (family, column) -> the op that has it
        self._taken: set[tuple[str, str]] = set()  # (op, column)

    def take(self, name: str, op: str, family: str | None, *, text: bool) -> str:
        field = f"{self.where}.{op}"
        found = self.chain.require(name, field)
        key = found.lower()
        kind = self.chain.type_of(found)
        if not (kind == "VARCHAR" if text else NUMERIC_TYPE.match(kind)):
            raise ConfigError(f"{op} needs a {'VARCHAR' if text else 'numeric'} column, not {kind}",
                              field=field, value=name)
        if (op, key) in self._taken:
            raise ConfigError("column is listed twice", field=field, value=name)
        self._taken.add((op, key))
        if family:
            owner = self._owner.setdefault((family, key), op)
            if owner != op:
                raise ConfigError(f"column is in both {owner} and {op}", field=field, value=name)
        self.values.setdefault(key, col(found))
        return key


def _folded(value: exp.Expression) -> exp.Expression:
    return exp.func("lower", exp.func("trim", value))


def _categories(value: exp.Expression, mapping: dict[str, list[str]], field: str) -> exp.Expression:
    case = exp.Case(this=_folded(value.copy()))
    owner: dict[str, str] = {}
    for canonical, variants in mapping.items():
        for variant in dict.fromkeys([canonical, *variants]):
            seen = owner.setdefault(variant.strip(" ").lower(), canonical)
            if seen != canonical:
                raise ConfigError(f"variant is listed under both {seen!r} and {canonical!r}",
                                  field=field, value=variant)
            case = case.when(_folded(exp.Literal.string(variant)), exp.Literal.string(canonical))
    return case.else_(value) if mapping else value


def _over_all(function: str, value: exp.Expression) -> exp.Window:
    return exp.Window(this=exp.func(function, value.copy()))


def _spread_case(value: exp.Expression, spread: exp.Expression, scaled: exp.Expression) -> exp.Case:
    zero = exp.cast(exp.Literal.number(0), "DOUBLE")
    return (exp.case()
            .when(value.copy().is_(exp.null()), exp.null())
            .when(exp.or_(spread.is_(exp.null()), spread.copy().eq(0)), zero)
            .else_(scaled))


def _min_max(value: exp.Expression) -> exp.Expression:
    x = exp.cast(value, "DOUBLE")
    low, high = _over_all("min", x), _over_all("max", x)
    spread = exp.paren(exp.Sub(this=high, expression=low.copy()))
    scaled = exp.Div(this=exp.paren(exp.Sub(this=x.copy(), expression=low.copy())), expression=spread.copy())
    return _spread_case(x, spread, scaled)


def _z_score(value: exp.Expression) -> exp.Expression:
    x = exp.cast(value, "DOUBLE")
    mean, deviation = _over_all("avg", x), _over_all("stddev_samp", x)
    scaled = exp.Div(this=exp.paren(exp.Sub(this=x.copy(), expression=mean)), expression=deviation.copy())
    return _spread_case(x, deviation, scaled)
