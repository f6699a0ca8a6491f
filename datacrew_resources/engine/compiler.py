"""Spec -> one DuckDB SELECT: each rule becomes a CTE, built as sqlglot expressions.

After every CTE the query so far is bound against empty copies of the sources
(`Binder`), so the column set and types after each rule are DuckDB's own answer and
a rule that does not bind is reported with its index. Our own checks run first, to
name unknown columns with the rule index and the columns that do exist.

The last CTE is projected onto `target_schema`, in declared order: equal types pass
as they are, types DuckDB converts implicitly (lossless widening) get a CAST, any
other conversion is a checked cast that fails the run on the first value it cannot
convert (naming column, type and value). Produced columns the target schema does not
declare are dropped and listed in `CompiledPlan.dropped_columns`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line
from datacrew_resources.config.spec import (
    AggregateRule,
    CastRule,
    DeriveRule,
    FilterRule,
    GroupByRule,
    JoinRule,
    RenameRule,
    SelectRule,
    TransformationSpec,
)

from .binder import Binder
from .constraints import col
from .sources import SourceRef, view_identifier
from .sql_guard import DIALECT, check_expression, check_type

# Types DuckDB cannot write to parquet as themselves, and what they read back as.
PARQUET_READS_BACK = {"HUGEINT": "DOUBLE", "UHUGEINT": "DOUBLE", "TIMESTAMP_S": "TIMESTAMP",
                      "TIMESTAMP_MS": "TIMESTAMP", "BIT": "VARCHAR", "BIGNUM": "VARCHAR"}
NUMERIC_TYPE = re.compile(
    r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$"
)


@dataclass(frozen=True)
class CompiledPlan:
    """One SELECT producing the target schema, and what it reads and returns."""

    name: str
    sql: str
    source_keys: tuple[str, ...]
    output_columns: tuple[str, ...]
    output_types: tuple[str, ...]
    dropped_columns: tuple[str, ...] = ()
    conversions: dict[str, str] = field(default_factory=dict)

    @property
    def views(self) -> dict[str, str]:
        """How each source key is spelled in `sql`."""
        return {key: view_identifier(key).sql(dialect=DIALECT) for key in self.source_keys}

    def to_dict(self) -> dict:
        return {**asdict(self), "views": self.views}


def _names(columns: list[tuple[str, str]]) -> list[str]:
    return [name for name, _ in columns]


def _find(columns: list[tuple[str, str]], name: str) -> tuple[str, str] | None:
    """DuckDB identifiers are case-insensitive, so lookups are too."""
    return next((c for c in columns if c[0].lower() == name.lower()), None)


def _known(columns: list[tuple[str, str]]) -> str:
    names = _names(columns)
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    return f"(known: {shown})"


class _Chain:
    """The CTEs built so far and the columns (name, type) after the last one."""

    def __init__(self, binder: Binder, base: str):
        self.binder = binder
        self.ctes: list[tuple[str, exp.Select]] = []
        self.columns: list[tuple[str, str]] = []
        self.add("source", exp.select("*").from_(exp.Table(this=view_identifier(base))), "sources[0]", base)

    @property
    def last(self) -> exp.Table:
        return exp.to_table(self.ctes[-1][0])

    def query(self, select: exp.Select) -> exp.Select:
        for name, body in self.ctes:
            select = select.with_(name, as_=body)
        return select

    def add(self, name: str, body: exp.Select, field: str, value: object) -> None:
        """Append one CTE and bind the chain, so errors carry the rule (`field`, `value`:
        its text as the spec wrote it) that caused them."""
        self.ctes.append((name, body))
        try:
            self.columns = self.binder.columns(self.query(exp.select("*").from_(name)))
        except duckdb.Error as e:
            raise ConfigError(f"does not bind: {first_line(e)}", field=field, value=value) from None

    def require(self, name: str, field: str) -> str:
        found = _find(self.columns, name)
        if found is None:
            raise ConfigError(f"unknown column {_known(self.columns)}", field=field, value=name)
        return found[0]

    def expression(self, text: str, field: str) -> exp.Expression:
        """A guarded user expression whose column references all exist."""
        tree = check_expression(text, field=field)
        for column in tree.find_all(exp.Column):
            name = column.parts[0].name
            if not _lambda_parameter(column, name) and _find(self.columns, name) is None:
                raise ConfigError(
                    f"unknown column {name!r} {_known(self.columns)}", field=field, value=text
                )
        return tree


def _lambda_parameter(column: exp.Column, name: str) -> bool:
    """`x` in `list_transform(l, x -> x + 1)` is a lambda parameter, not a column."""
    parent = column.parent
    while parent is not None:
        if isinstance(parent, exp.Lambda) and any(p.name == name for p in parent.expressions):
            return True
        parent = parent.parent
    return False


def _check_unique(names: list[str], field: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ConfigError("column would appear twice", field=field, value=name)
        seen.add(name.lower())


def _filter(chain: _Chain, rule: FilterRule, i: int) -> None:
    where = chain.expression(rule.filter, f"rules[{i}].filter")
    chain.add(f"rule_{i}", exp.select("*").from_(chain.last).where(where), f"rules[{i}].filter", rule.filter)


def _derive(chain: _Chain, rule: DeriveRule, i: int) -> None:
    # One CTE per entry: each derived column may use the ones derived before it.
    for j, (target, text) in enumerate(rule.derive.items()):
        where = f"rules[{i}].derive.{target}"
        value = chain.expression(text, where).as_(target, quoted=True)
        existing = _find(chain.columns, target)
        items = [value if existing and c == existing[0] else col(c) for c in _names(chain.columns)]
        if existing is None:
            items.append(value)
        chain.add(f"rule_{i}_{j}", exp.select(*items).from_(chain.last), where, text)


def _select(chain: _Chain, rule: SelectRule, i: int) -> None:
    where = f"rules[{i}].select"
    names = [chain.require(name, where) for name in rule.select]
    _check_unique(names, where)
    chain.add(f"rule_{i}", exp.select(*map(col, names)).from_(chain.last), where, rule.select)


def _rename(chain: _Chain, rule: RenameRule, i: int) -> None:
    where = f"rules[{i}].rename"
    mapping = {chain.require(old, where).lower(): new for old, new in rule.rename.items()}
    items = [
        col(name).as_(mapping[name.lower()], quoted=True) if name.lower() in mapping else col(name)
        for name in _names(chain.columns)
    ]
    _check_unique([item.alias_or_name for item in items], where)
    chain.add(f"rule_{i}", exp.select(*items).from_(chain.last), where, rule.rename)


def _cast(chain: _Chain, rule: CastRule, i: int) -> None:
    types = {}
    for name, kind in rule.cast.items():
        found = chain.require(name, f"rules[{i}].cast")
        types[found.lower()] = check_type(kind, field=f"rules[{i}].cast.{name}")
    items = [
        exp.cast(col(name), types[name.lower()]).as_(name, quoted=True)
        if name.lower() in types else col(name)
        for name in _names(chain.columns)
    ]
    chain.add(f"rule_{i}", exp.select(*items).from_(chain.last), f"rules[{i}].cast", rule.cast)


def _aggregate(chain: _Chain, keys: list[str], rule: AggregateRule, i: int, key_field: str) -> None:
    groups = [chain.require(name, key_field) for name in keys]
    values = [
        chain.expression(text, f"rules[{i}].aggregate.{name}").as_(name, quoted=True)
        for name, text in rule.aggregate.items()
    ]
    _check_unique(groups + list(rule.aggregate), f"rules[{i}].aggregate")
    select = exp.select(*map(col, groups), *values).from_(chain.last)
    if groups:
        select = select.group_by(*map(col, groups))
    chain.add(f"rule_{i}", select, f"rules[{i}].aggregate", rule.aggregate)


def _join(chain: _Chain, rule: JoinRule, i: int, right: SourceRef) -> None:
    spec, where = rule.join, f"rules[{i}].join"
    right_columns = list(right.columns)
    pairs = list(spec.on.items()) if isinstance(spec.on, dict) else [(k, k) for k in spec.on]
    if not pairs:
        raise ConfigError("needs at least one key", field=f"{where}.on", value=spec.on)
    keys = []
    for left_key, right_key in pairs:
        left_name = chain.require(left_key, f"{where}.on")
        right_name = _find(right_columns, right_key)
        if right_name is None:
            raise ConfigError(f"unknown column in {spec.source} {_known(right_columns)}",
                              field=f"{where}.on", value=right_key)
        keys.append((left_name, right_name[0]))
    condition = exp.and_(*(col(l, "l").eq(col(r, "r")) for l, r in keys))
    items: list[exp.Expression] = []
    coalesce_keys = {l.lower(): r for l, r in keys} if spec.how in ("right", "full") else {}
    for name in _names(chain.columns):
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
        right_keys = {r.lower() for _, r in keys}
        kept = spec.columns if spec.columns is not None else [
            c for c in _names(right_columns) if c.lower() not in right_keys
        ]
        for name in kept:
            found = _find(right_columns, name)
            if found is None:
                raise ConfigError(f"unknown column in {spec.source} {_known(right_columns)}",
                                  field=f"{where}.columns", value=name)
            out = spec.prefix + found[0]
            if _find(chain.columns, out) is not None:
                raise ConfigError(
                    f"column from {spec.source} clashes with an existing column; set join.prefix "
                    "or join.columns", field=where, value=out)
            items.append(col(found[0], "r").as_(out, quoted=True))
    _check_unique([item.alias_or_name for item in items], where)
    select = exp.select(*items).from_(chain.last.as_("l")).join(
        exp.Table(this=view_identifier(spec.source)).as_("r"), on=condition, join_type=spec.how
    )
    chain.add(f"rule_{i}", select, where, spec.model_dump(exclude_defaults=True))


def _project(chain: _Chain, spec: TransformationSpec) -> tuple[exp.Select, list, list, dict]:
    """Project onto target_schema; returns (select, names, types, conversions)."""
    items, names, types, conversions = [], [], [], {}
    for k, target in enumerate(spec.target_schema.columns):
        where = f"target_schema.columns[{k}]"
        found = _find(chain.columns, target.name)
        if found is None:
            raise ConfigError(f"is not produced by the rules {_known(chain.columns)}",
                              field=f"{where}.name", value=target.name)
        dtype = check_type(target.type, field=f"{where}.type")
        declared = chain.binder.type_name(dtype, field=f"{where}.type")
        stored = "VARCHAR" if declared.startswith("ENUM(") else PARQUET_READS_BACK.get(declared)
        if stored:
            raise ConfigError(
                f"parquet cannot store {declared} (it reads back as {stored}); declare another type",
                field=f"{where}.type", value=target.type)
        if (target.min is not None or target.max is not None) and not NUMERIC_TYPE.match(declared):
            raise ConfigError(f"min/max need a numeric type, not {declared}", field=where,
                              value=target.name)
        source, produced = found
        if produced == declared:
            value = col(source)
        elif chain.binder.casts_implicitly(produced, declared):
            value, conversions[target.name] = exp.cast(col(source), dtype), "cast"
        elif not chain.binder.cast_exists(produced, declared):
            raise ConfigError(f"column {target.name!r}: the rules produce {produced}, which cannot convert to {declared}",
                              field=f"{where}.type", value=target.type)
        else:
            value = _checked_cast(source, dtype, target.name, declared)
            conversions[target.name] = "checked_cast"
        items.append(value.as_(target.name, quoted=True))
        names.append(target.name)
        types.append(declared)
    return exp.select(*items).from_(chain.last), names, types, conversions


def _checked_cast(source: str, dtype: exp.DataType, name: str, declared: str) -> exp.Expression:
    """TRY_CAST, but a non-null value that does not convert stops the run and is named."""
    converted = exp.TryCast(this=col(source), to=dtype.copy())
    message = exp.Anonymous(this="concat", expressions=[
        exp.Literal.string(f"column {name!r} ({declared}): cannot convert value "),
        exp.cast(col(source), "VARCHAR"),
    ])
    failed = exp.and_(col(source).is_(exp.null()).not_(), converted.copy().is_(exp.null()))
    error = exp.Anonymous(this="error", expressions=[message])
    return exp.case().when(failed, error).else_(converted)


def _bind_projection(chain: _Chain, final: exp.Select, spec: TransformationSpec) -> exp.Select:
    """The whole query, bound; a failure names the first target column that does not bind."""
    query = chain.query(final)
    try:
        chain.binder.columns(query)
        return query
    except duckdb.Error as e:
        failure = first_line(e)
    for k, (item, target) in enumerate(zip(final.expressions, spec.target_schema.columns)):
        try:
            chain.binder.columns(chain.query(exp.select(item.copy()).from_(chain.last)))
        except duckdb.Error as e:
            raise ConfigError(f"does not bind: {first_line(e)}", field=f"target_schema.columns[{k}]",
                              value=target.name) from None
    raise ConfigError(f"does not bind: {failure}", field="target_schema.columns",
                      value=[c.name for c in spec.target_schema.columns])


def compile_spec(
    spec: TransformationSpec, sources: Mapping[str, SourceRef], *, file: str = ""
) -> CompiledPlan:
    """Compile a spec into one SELECT over the registered sources; raise ConfigError on bad input."""
    try:
        return _compile(spec, sources)
    except ConfigError as e:
        raise ConfigError(e.problem, file=file, field=e.field, value=e.value) from None


def _compile(spec: TransformationSpec, sources: Mapping[str, SourceRef]) -> CompiledPlan:
    if spec.output.partition_by:
        raise ConfigError("partitioned output is not supported by the engine yet",
                          field="output.partition_by", value=spec.output.partition_by)
    for k, key in enumerate(spec.sources):
        if key not in sources:
            raise ConfigError(f"unknown source (registered: {', '.join(sorted(sources))})",
                              field=f"sources[{k}]", value=key)
        if not sources[key].columns:
            raise ConfigError("no column list is known for this source; inspect it first",
                              field=f"sources[{k}]", value=key)
    used = [spec.sources[0]] + [r.join.source for r in spec.rules if isinstance(r, JoinRule)]
    used = list(dict.fromkeys(used))
    with Binder(sources[key] for key in used) as binder:
        chain = _Chain(binder, spec.sources[0])
        _apply_rules(chain, spec, sources)
        final, names, types, conversions = _project(chain, spec)
        query = _bind_projection(chain, final, spec)
    produced = {n.lower() for n in names}
    return CompiledPlan(
        name=spec.name,
        sql=query.sql(dialect=DIALECT, pretty=True),
        source_keys=tuple(used),
        output_columns=tuple(names),
        output_types=tuple(types),
        dropped_columns=tuple(n for n in _names(chain.columns) if n.lower() not in produced),
        conversions=conversions,
    )


def _apply_rules(chain: _Chain, spec: TransformationSpec, sources: Mapping[str, SourceRef]) -> None:
    rules, i = spec.rules, 0
    while i < len(rules):
        rule = rules[i]
        if isinstance(rule, GroupByRule):
            if i + 1 >= len(rules) or not isinstance(rules[i + 1], AggregateRule):
                raise ConfigError("must be followed by an aggregate rule", field=f"rules[{i}].group_by",
                                  value=rule.group_by)
            _aggregate(chain, rule.group_by, rules[i + 1], i + 1, f"rules[{i}].group_by")
            i += 2
            continue
        if isinstance(rule, AggregateRule):
            _aggregate(chain, [], rule, i, f"rules[{i}].aggregate")
        elif isinstance(rule, JoinRule):
            _join(chain, rule, i, sources[rule.join.source])
        else:
            {FilterRule: _filter, DeriveRule: _derive, SelectRule: _select,
             RenameRule: _rename, CastRule: _cast}[type(rule)](chain, rule, i)
        i += 1
