"""Quality figures from one scan, checked against hand-counted fixtures."""

from __future__ import annotations

import re

import duckdb
import pytest
import sqlglot
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


REFERENCING = TargetSchema.model_validate(
    {
        "columns": [
            {"name": "id", "type": "INTEGER", "primary_key": True},
            {"name": "name", "type": "VARCHAR", "references": "ref/names.name"},
            {"name": "x", "type": "INTEGER", "references": "ref/codes.code"},
        ]
    }
)


@pytest.fixture
def references(connection):
    # names: a and b (and a NULL, which must not hide orphans); codes: 5 and 7.
    connection.execute("CREATE TABLE names AS SELECT * FROM (VALUES ('a'), ('b'), (NULL)) v(name)")
    connection.execute("CREATE TABLE codes AS SELECT * FROM (VALUES (5), (7)) v(code)")
    return {"ref/names": exp.to_table("names"), "ref/codes": exp.to_table("codes")}


def test_referential_integrity_matches_hand_counts(connection, references):
    # Rows of t: (1,a,5) ok; (1,b,50) x orphan; (2,NULL,7) ok, NULL is no orphan; (NULL,c,-1) both orphan.
    m = measure(connection, REFERENCING, exp.to_table("t"), reference_tables=references)
    assert m.orphans == {"name": 1, "x": 2}
    assert m.orphan_rows == 2
    assert m.referential_integrity == 0.5
    assert m.key_uniqueness == 0.5 and m.duplicate_key_rows == 2
    assert m.consistency == 0.5


def test_consistency_is_the_lower_of_uniqueness_and_integrity(connection, references):
    unique = REFERENCING.model_copy(
        update={"columns": [c.model_copy(update={"primary_key": False}) for c in REFERENCING.columns]}
    )
    m = measure(connection, unique, exp.to_table("t"), reference_tables=references)
    assert (m.key_uniqueness, m.referential_integrity, m.consistency) == (1.0, 0.5, 0.5)


def test_references_stay_in_one_statement_scanning_the_table_once(connection, references):
    query, _ = metrics_query(REFERENCING, exp.to_table("t"), reference_tables=references)
    sql = query.sql(dialect="duckdb")
    assert len(sqlglot.parse(sql, read="duckdb")) == 1
    plan = connection.execute(f"EXPLAIN {sql}").fetchall()[0][1]
    assert len(re.findall(r"Table: memory\.main\.t\b", plan)) == 1
    assert plan.count("Seq Scan") == 3  # t once, and each referenced table once
    assert plan.count("MARK") == 2  # one hash join per referencing column


def test_orphan_samples_join_the_consistency_samples(connection, references):
    samples = sample_failures(connection, REFERENCING, exp.to_table("t"), reference_tables=references)
    consistency = samples["consistency"]
    assert {"id": 1, "copies": 2} in consistency
    assert {"id": 1, "name": "b", "x": 50} in consistency and {"id": None, "name": "c", "x": -1} in consistency
    assert len(consistency) <= 5


def test_a_reference_without_its_relation_is_an_error(connection):
    with pytest.raises(ValueError, match="references 'ref/names', but no relation for it was given"):
        measure(connection, REFERENCING, exp.to_table("t"), reference_tables={"ref/codes": exp.to_table("t")})
