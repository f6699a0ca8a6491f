"""The one definition of what breaks a `target_schema` column, as sqlglot predicates.

Both the engine's schema check (which fails a run) and the quality metrics (which
score an output) ask `violations(column)`, so they can never disagree about what a
violating value is. Each predicate is true on a row whose value breaks the
constraint of its kind:

- `null`: the value is NULL in a non-nullable or primary-key column;
- `min` / `max`: the value is below `min` / above `max`;
- `accepted_values`: the value is not one of them;
- `pattern`: the regular expression is not found in the value's text (a search, as
  in JSON Schema; anchor it with ^...$ for a full match).

A NULL value never breaks a value constraint: its comparisons yield NULL, which
`count_if`, `FILTER (WHERE ...)`, `WHERE` and `OR` with a true term all treat as not
true. Nullability is the `null` kind's concern alone.

Column names from specs are never parsed as SQL: `col()` quotes them.
"""

from __future__ import annotations

from sqlglot import exp

from datacrew_resources.config.spec import TargetColumn

NULL = "null"
VALUE_KINDS = ("min", "max", "accepted_values", "pattern")


def col(name: str, table: str | None = None) -> exp.Column:
    """A column reference, always quoted: the name is data, never SQL."""
    return exp.column(name, table=table, quoted=True)


def violations(column: TargetColumn) -> dict[str, exp.Expression]:
    """The predicates marking a row that breaks `column`'s constraints, keyed by kind.

    Only declared constraints appear, in the order `null`, then `VALUE_KINDS`.
    """
    value = col(column.name)
    found: dict[str, exp.Expression] = {}
    if not column.nullable or column.primary_key:
        found[NULL] = value.copy().is_(exp.null())
    if column.min is not None:
        found["min"] = value.copy() < exp.convert(column.min)
    if column.max is not None:
        found["max"] = value.copy() > exp.convert(column.max)
    if column.accepted_values is not None:
        accepted = [exp.convert(v) for v in column.accepted_values]
        found["accepted_values"] = exp.not_(value.copy().isin(*accepted))
    if column.pattern is not None:
        matches = exp.Anonymous(this="regexp_matches", expressions=[
            exp.cast(value.copy(), "VARCHAR"), exp.Literal.string(column.pattern)])
        found["pattern"] = exp.not_(matches)
    return found


def value_violations(column: TargetColumn) -> dict[str, exp.Expression]:
    """`violations` without the `null` kind: what a present value can break."""
    return {kind: p for kind, p in violations(column).items() if kind != NULL}
