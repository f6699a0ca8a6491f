"""Column lineage of a compiled plan: which source columns each output column is made of.

The plan's SQL is qualified with sqlglot against a schema built from the sources'
column lists (so every `SELECT *` is expanded and every column names its table),
then walked scope by scope: an output column follows its select item into the CTE,
derived table, set-operation branch or subquery it reads, down to the source tables.

Semantics:
- A dependency is a column whose *values* flow into the output column: anything in
  the select item's expression, including function arguments, CASE branches and
  conditions, COALESCE arguments, window PARTITION BY / ORDER BY and the columns a
  scalar subquery projects. Columns used only to choose rows (WHERE, JOIN ... ON,
  GROUP BY keys of other columns, HAVING, QUALIFY) are not dependencies of the
  other columns; that is row lineage, not column lineage.
- `count(*)` (and any expression with no column in it, such as a literal) depends on
  no column: its list is empty, and it stays in the result so every output column
  is present.
- Each dependency has a `kind`, the most transforming step on its path:
  `identity` (the value unchanged, possibly renamed), `cast` (a CAST / TRY_CAST of
  that one column, including the compiler's checked cast), `derived` (a scalar
  expression) and `aggregated` (inside an aggregate or a window function).
- Dependencies are listed in the order the walk first meets them (the order they
  are written in), once each; source and column names are spelled as the
  sources spell them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

from datacrew_resources.config.errors import ConfigError, first_line

from .compiler import CompiledPlan
from .sources import SourceRef, view_identifier
from .sql_guard import DIALECT

if TYPE_CHECKING:
    import dagster as dg

IDENTITY, CAST, DERIVED, AGGREGATED = "identity", "cast", "derived", "aggregated"
KINDS = (IDENTITY, CAST, DERIVED, AGGREGATED)  # from least to most transforming
_RANK = {kind: rank for rank, kind in enumerate(KINDS)}

log = logging.getLogger(__name__)

# A source's columns: a SourceRef, (name, type) pairs, or bare names.
SourceColumns = SourceRef | Sequence[tuple[str, str]] | Sequence[str]


@dataclass(frozen=True)
class ColumnDep:
    """One source column an output column depends on, and how."""

    source: str
    column: str
    kind: str

    def to_dict(self) -> dict[str, str]:
        return {"asset_key": self.source, "column": self.column, "kind": self.kind}


Lineage = dict[str, list[ColumnDep]]


def column_lineage(plan: CompiledPlan, sources: Mapping[str, SourceColumns]) -> dict[str, list[tuple[str, str]]]:
    """For each output column of `plan`, the (source key, source column) pairs it depends on."""
    return {name: [(d.source, d.column) for d in deps]
            for name, deps in column_lineage_detail(plan, sources).items()}


def column_lineage_detail(plan: CompiledPlan, sources: Mapping[str, SourceColumns]) -> Lineage:
    """`column_lineage` with the kind of each dependency; keys are `plan.output_columns`."""
    missing = [key for key in plan.source_keys if key not in sources]
    if missing:
        raise ConfigError("no column list for a source of the plan", field="sources", value=missing)
    return sql_column_lineage(plan.sql, {key: sources[key] for key in plan.source_keys},
                              output_columns=plan.output_columns)


def traced_lineage(plan: CompiledPlan, sources: Mapping[str, SourceColumns]) -> Lineage | None:
    """`column_lineage_detail`, or None (logged) when the SQL cannot be traced: lineage is
    metadata, and a run should not fail for want of it."""
    try:
        return column_lineage_detail(plan, sources)
    except ConfigError as e:
        log.warning("%s: no column lineage: %s", plan.name, e)
        return None


def sql_column_lineage(
    sql: str, sources: Mapping[str, SourceColumns], *, output_columns: Sequence[str] | None = None
) -> Lineage:
    """Column lineage of one SELECT over tables named by the keys of `sources`.

    `output_columns` (the plan's spelling of the result columns, in order) renames the
    result; without it the names are sqlglot's normalized (lowercase) ones.
    """
    spelled = {key: _column_names(value) for key, value in sources.items()}
    schema = {
        view_identifier(key).sql(dialect=DIALECT): {
            exp.to_identifier(name, quoted=True).sql(dialect=DIALECT): kind for name, kind in columns
        }
        for key, columns in spelled.items()
    }
    try:
        tree = exp.maybe_parse(sql, dialect=DIALECT)
        if tree.find(exp.Columns):
            raise ConfigError("cannot trace column lineage through COLUMNS(...)", field="plan.sql")
        tree = qualify(tree, schema=schema, dialect=DIALECT)
    except (OptimizeError, ParseError) as e:
        raise ConfigError(f"cannot trace column lineage: {first_line(e)}", field="plan.sql") from None
    root = build_scope(tree)
    if root is None:
        raise ConfigError("cannot trace column lineage: not a query", field="plan.sql")
    tables = {key.lower(): (key, {n.lower(): n for n, _ in cols}) for key, cols in spelled.items()}
    for scope in root.traverse():
        for source in scope.sources.values():
            named_table = isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier)
            if named_table and source.name.lower() not in tables:  # table functions read no source
                raise ConfigError("cannot trace column lineage: no column list for a table the SQL reads",
                                  field="plan.sql", value=source.name)
    walker = _Walker(tables)
    items = _outputs(root)
    names = list(output_columns) if output_columns is not None else [i.alias_or_name for i in items]
    if [n.lower() for n in names] != [i.alias_or_name.lower() for i in items]:
        raise ConfigError("the SQL does not return the plan's output columns", field="plan.output_columns",
                          value=names)
    return {
        name: [ColumnDep(source, column, kind) for (source, column), kind in walker.output(root, index).items()]
        for index, name in enumerate(names)
    }


def dagster_column_lineage(lineage: Mapping[str, Iterable[ColumnDep | tuple[str, str]]]) -> dg.TableColumnLineage:
    """The lineage as Dagster's `dagster/column_lineage` metadata value (`TableColumnLineage`)."""
    import dagster as dg  # the engine itself does not need Dagster; only this adapter does

    def dep(item: ColumnDep | tuple[str, str]) -> dg.TableColumnDep:
        source, column = (item.source, item.column) if isinstance(item, ColumnDep) else item
        return dg.TableColumnDep(asset_key=dg.AssetKey(source.split("/")), column_name=column)

    return dg.TableColumnLineage(deps_by_column={name: [dep(d) for d in deps] for name, deps in lineage.items()})


def _column_names(value: SourceColumns) -> list[tuple[str, str]]:
    """(name, type) pairs; a type sqlglot cannot read does not matter to lineage."""
    columns = value.columns if isinstance(value, SourceRef) else value
    pairs = [(c, "UNKNOWN") if isinstance(c, str) else (c[0], c[1]) for c in columns]
    checked = []
    for name, kind in pairs:
        try:
            exp.DataType.build(kind, dialect=DIALECT)
        except (ParseError, ValueError):
            kind = "UNKNOWN"
        checked.append((name, kind))
    return checked


def _outputs(scope: Scope) -> list[exp.Expression]:
    """The select items of a scope; a set operation is named by its leftmost branch."""
    expression = scope.expression
    while isinstance(expression, exp.SetOperation):
        expression = expression.this
    if isinstance(expression, exp.Subquery):
        expression = expression.unnest()
    return list(expression.selects)


Deps = dict[tuple[str, str], str]  # (source, column) -> kind, in the order first met


def _merge(into: Deps, found: Deps, floor: str) -> None:
    """Add `found`, each kind raised to at least `floor`; a dep met twice keeps its strongest kind."""
    for dep, kind in found.items():
        kind = max(kind, floor, key=_RANK.__getitem__)
        into[dep] = max(into.get(dep, kind), kind, key=_RANK.__getitem__)


class _Walker:
    def __init__(self, tables: dict[str, tuple[str, dict[str, str]]]):
        self.tables = tables  # lowercase key -> (key, lowercase column -> column)
        self.memo: dict[tuple[int, int], Deps] = {}

    def output(self, scope: Scope, index: int) -> Deps:
        """Dependencies of the `index`th result column of `scope`."""
        memo_key = (id(scope), index)
        if memo_key not in self.memo:
            self.memo[memo_key] = {}  # a recursive CTE reaching itself adds nothing new
            if isinstance(scope.expression, exp.SetOperation):
                found: Deps = {}
                for branch in scope.set_operation_scopes:
                    _merge(found, self.output(branch, index), IDENTITY)
            else:
                found = self._item(scope, scope.expression.selects[index])
            self.memo[memo_key] = found
        return self.memo[memo_key]

    def named(self, scope: Scope, name: str) -> Deps:
        if not isinstance(scope.expression, exp.Query):
            # a table function such as UNNEST(l) AS u(v): made of the columns in the call
            found: Deps = {}
            for column in scope.expression.find_all(exp.Column):
                if column.table:
                    _merge(found, self._column(scope, column), DERIVED)
            return found
        for index, item in enumerate(_outputs(scope)):
            if item.alias_or_name.lower() == name.lower():
                return self.output(scope, index)
        # e.g. a COLUMNS(...) expression, whose columns sqlglot does not expand
        raise ConfigError("cannot trace column lineage: a column is read that the query it reads "
                          "from does not name", field="plan.sql", value=name)

    def _item(self, scope: Scope, item: exp.Expression) -> Deps:
        value = item.unalias()
        direct = _direct_kind(value)
        subqueries = {id(s.expression): s for s in scope.subquery_scopes}
        found: Deps = {}
        for node in value.walk(bfs=False, prune=lambda n: isinstance(n, exp.Query)):
            if isinstance(node, exp.Query):  # a subquery: its own scope
                inner = subqueries.get(id(node.unnest() if isinstance(node, exp.Subquery) else node))
                if inner is not None:
                    for index in range(len(_outputs(inner))):
                        _merge(found, self.output(inner, index), _kind_inside(node, value, DERIVED))
            elif isinstance(node, exp.Column) and node.table:
                _merge(found, self._column(scope, node), direct or _kind_inside(node, value, DERIVED))
        return found

    def _column(self, scope: Scope, column: exp.Column) -> Deps:
        source = _resolve(scope, column.table)
        if isinstance(source, Scope):
            return self.named(source, column.name)
        if isinstance(source, exp.Table) and source.name.lower() in self.tables:
            key, columns = self.tables[source.name.lower()]
            name = columns.get(column.name.lower())
            return {(key, name): IDENTITY} if name else {}
        return {}


def _resolve(scope: Scope | None, alias: str) -> exp.Table | Scope | None:
    """What a table alias names, looking outwards for correlated references."""
    while scope is not None:
        if alias in scope.sources:
            return scope.sources[alias]
        scope = scope.parent
    return None


def _direct_kind(value: exp.Expression) -> str | None:
    """identity or cast when the whole item is one column, as it is or converted."""
    if isinstance(value, exp.Column):
        return IDENTITY
    if isinstance(value, (exp.Cast, exp.TryCast)) and isinstance(value.this, exp.Column):
        return CAST
    if _checked_cast(value):
        return CAST
    return None


def _checked_cast(value: exp.Expression) -> bool:
    """The compiler's checked cast: CASE WHEN <bad> THEN error(...) ELSE TRY_CAST(col) END."""
    if not isinstance(value, exp.Case) or value.this is not None:
        return False
    default = value.args.get("default")
    if not (isinstance(default, exp.TryCast) and isinstance(default.this, exp.Column)):
        return False
    column = default.this.name.lower()
    branches = value.args.get("ifs") or []
    return all(
        isinstance(b.args.get("true"), exp.Anonymous) and b.args["true"].name.lower() == "error"
        and all(c.name.lower() == column for c in b.find_all(exp.Column))
        for b in branches
    )


def _kind_inside(node: exp.Expression, top: exp.Expression, otherwise: str) -> str:
    """aggregated when `node` sits inside an aggregate or window function under `top`."""
    parent = node.parent
    while parent is not None and node is not top:
        if isinstance(parent, (exp.AggFunc, exp.Window, exp.Filter)):
            return AGGREGATED
        if parent is top:
            break
        node, parent = parent, parent.parent
    return otherwise


__all__ = [
    "AGGREGATED",
    "CAST",
    "DERIVED",
    "IDENTITY",
    "KINDS",
    "ColumnDep",
    "Lineage",
    "column_lineage",
    "column_lineage_detail",
    "dagster_column_lineage",
    "sql_column_lineage",
    "traced_lineage",
]
