"""Spec -> one DuckDB SELECT: each rule becomes a CTE, built as sqlglot expressions.

Rules compile in `engine.rules` (one module per family). After every CTE the query
so far is bound against empty copies of the sources (`Binder`), so the column set
and types after each rule are DuckDB's own answer and a rule that does not bind is
reported with its index. Our own checks run first, to name unknown columns with the
rule index and the columns that do exist.

The last CTE is projected onto `target_schema`, in declared order: equal types pass
as they are, types DuckDB converts implicitly (lossless widening) get a CAST, any
other conversion is a checked cast that fails the run on the first value it cannot
convert (naming column, type and value). Produced columns the target schema does not
declare are dropped and listed in `CompiledPlan.dropped_columns`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import duckdb
from sqlglot import exp

from datacrew_resources.config.errors import ConfigError, first_line
from datacrew_resources.config.spec import TransformationSpec

from .binder import Binder
from .constraints import col
from .rules import NUMERIC_TYPE, Chain, apply_rules, find, known, sources_read
from .sources import SourceRef, view_identifier
from .sql_guard import DIALECT, check_type

# Types DuckDB cannot write to parquet as themselves, and what they read back as.
PARQUET_READS_BACK = {"HUGEINT": "DOUBLE", "UHUGEINT": "DOUBLE", "TIMESTAMP_S": "TIMESTAMP",
                      "TIMESTAMP_MS": "TIMESTAMP", "BIT": "VARCHAR", "BIGNUM": "VARCHAR"}


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


def _project(chain: Chain, spec: TransformationSpec) -> tuple[exp.Select, list, list, dict]:
    """Project onto target_schema; returns (select, names, types, conversions)."""
    items, names, types, conversions = [], [], [], {}
    for k, target in enumerate(spec.target_schema.columns):
        where = f"target_schema.columns[{k}]"
        found = find(chain.columns, target.name)
        if found is None:
            raise ConfigError(f"is not produced by the rules {known(chain.columns)}",
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


def _bind_projection(chain: Chain, final: exp.Select, spec: TransformationSpec) -> exp.Select:
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
    for k, key in enumerate(spec.sources):
        if key not in sources:
            raise ConfigError(f"unknown source (registered: {', '.join(sorted(sources))})",
                              field=f"sources[{k}]", value=key)
        if not sources[key].columns:
            raise ConfigError("no column list is known for this source; inspect it first",
                              field=f"sources[{k}]", value=key)
    used = sources_read(spec)
    with Binder(sources[key] for key in used) as binder:
        chain = Chain(binder, spec.sources[0])
        apply_rules(chain, spec, sources)
        final, names, types, conversions = _project(chain, spec)
        query = _bind_projection(chain, final, spec)
    produced = {n.lower() for n in names}
    return CompiledPlan(
        name=spec.name,
        sql=query.sql(dialect=DIALECT, pretty=True),
        source_keys=tuple(used),
        output_columns=tuple(names),
        output_types=tuple(types),
        dropped_columns=tuple(n for n, _ in chain.columns if n.lower() not in produced),
        conversions=conversions,
    )
