"""Quality figures from one scan, checked against hand-counted fixtures."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from datacrew_resources.config import TargetSchema
from datacrew_resources.quality import measure, sample_failures
from datacrew_resources.quality.metrics import metrics_query

SCHEMA = TargetSchema.model_validate(
    {
        "columns": [
            {"name": "id", "type": "INTEGER", "primary_key": True},
            {"name": "name", "type": "VARCHAR", "accepted_values": ["a", "b"]},
            {"name": "x", "type": "INTEGER", "min": 0, "max": 10},
        ]
    }
)


@pytest.fixture
def connection():
    con = duckdb.connect()
    # Row 2 repeats key 1 and has x=50; row 3 lacks a name; row 4 lacks a key, has a bad name and x=-1.
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a', 5), (1, 'b', 50), (2, NULL, 7), (NULL, 'c', -1)) v(id, name, x)"
    )
    yield con
    con.close()


def test_figures_match_hand_counts(connection):
    m = measure(connection, SCHEMA, exp.to_table("t"))
    assert m.row_count == 4
    assert (m.null_cells, m.cell_count) == (2, 12)
    assert m.completeness == pytest.approx(10 / 12)
    assert m.duplicate_key_rows == 2 and m.consistency == 0.5
    assert m.constraint_violations == {"name": 1, "x": 2}
    assert m.accuracy == 0.5 and m.inaccurate_rows == 2


def test_one_select_computes_everything():
    query, constrained = metrics_query(SCHEMA, exp.to_table("t"))
    assert isinstance(query, exp.Select) and constrained == ["name", "x"]
    assert query.sql(dialect="duckdb").count("SELECT") == 1


def test_clean_and_empty_tables_score_one(connection):
    connection.execute("CREATE TABLE clean AS SELECT * FROM (VALUES (1, 'a', 0), (2, 'b', 10)) v(id, name, x)")
    connection.execute("CREATE TABLE empty AS SELECT * FROM clean WHERE false")
    for table in ("clean", "empty"):
        m = measure(connection, SCHEMA, exp.to_table(table))
        assert (m.completeness, m.consistency, m.accuracy) == (1.0, 1.0, 1.0)


def test_samples_show_the_offending_rows(connection):
    samples = sample_failures(connection, SCHEMA, exp.to_table("t"))
    assert {"id": 1, "copies": 2} in samples["consistency"]
    assert {"id": None, "copies": 1} in samples["consistency"]
    assert sorted(r["x"] for r in samples["accuracy"]) == [-1, 50]
    assert len(samples["completeness"]) == 2


def test_values_with_quotes_are_literals_not_sql(connection):
    schema = TargetSchema.model_validate(
        {"columns": [{"name": "name", "type": "VARCHAR", "accepted_values": ["a'); DROP TABLE t; --"]}]}
    )
    m = measure(connection, schema, exp.to_table("t"))
    assert m.constraint_violations == {"name": 3}
    assert connection.execute("SELECT count(*) FROM t").fetchall() == [(4,)]
