"""The one predicate builder both the schema check and the quality metrics use."""

from __future__ import annotations

import duckdb
from sqlglot import exp

from datacrew_resources.config.spec import TargetColumn
from datacrew_resources.engine.constraints import col, value_violations, violations


def counts(column: TargetColumn, values: list) -> dict[str, int]:
    """How many of `values` each predicate marks, evaluated by DuckDB."""
    table = exp.select(exp.alias_(exp.Anonymous(this="unnest", expressions=[exp.convert(values)]), column.name,
                                  quoted=True))
    aggregates = [exp.alias_(exp.func("count_if", p), kind) for kind, p in violations(column).items()]
    query = exp.select(*aggregates).from_(table.subquery("t"))
    with duckdb.connect() as con:
        cursor = con.execute(query.sql(dialect="duckdb"))
        return dict(zip([d[0] for d in cursor.description], cursor.fetchall()[0]))


def test_each_kind_marks_exactly_its_violations_and_never_a_null() -> None:
    numbers = TargetColumn(name="n", type="INTEGER", nullable=False, min=0, max=10, accepted_values=[1, 5, 11])
    assert counts(numbers, [-1, 1, 5, 11, None]) == {"null": 1, "min": 1, "max": 1, "accepted_values": 1}
    text = TargetColumn(name="it's", type="VARCHAR", pattern="^a")
    assert counts(text, ["ab", "ba", None]) == {"pattern": 1}


def test_value_violations_leave_out_nullability() -> None:
    column = TargetColumn(name="k", type="INTEGER", primary_key=True, max=3)
    assert list(violations(column)) == ["null", "max"]
    assert list(value_violations(column)) == ["max"]
    assert value_violations(TargetColumn(name="k", type="INTEGER")) == {}


def test_column_names_are_quoted_never_parsed() -> None:
    assert col('a"; DROP TABLE t; --').sql(dialect="duckdb") == '"a""; DROP TABLE t; --"'
    assert col("x", "l").sql(dialect="duckdb") == '"l"."x"'
