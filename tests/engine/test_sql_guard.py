"""The SQL guard rejects every way out of the registered sources, naming the offender."""

from __future__ import annotations

import re

import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.engine.sql_guard import check_expression, check_ordering, check_query, check_type

TABLES = ["lake/flights", "warehouse/airlines"]

# (expression text, words the error must contain)
BAD_EXPRESSIONS = [
    ("read_csv('/etc/passwd')", "table function read_csv is not allowed"),
    ("read_text('~/.ssh/id_rsa')", "table function read_text is not allowed"),
    ("read_blob('/etc/shadow')", "table function read_blob is not allowed"),
    ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY statement is not allowed"),
    ("ATTACH '/tmp/x.db'", "ATTACH statement is not allowed"),
    ("DETACH warehouse_0", "DETACH statement is not allowed"),
    ("1; DROP TABLE x", "DROP statement is not allowed"),
    ("1; 2", "exactly one statement expected, found 2"),
    ("INSTALL httpfs", "INSTALL statement is not allowed"),
    ("LOAD httpfs", "LOAD statement is not allowed"),
    ("SET enable_external_access=true", "SET statement is not allowed"),
    ("RESET threads", "RESET statement is not allowed"),
    ("PRAGMA version", "PRAGMA statement is not allowed"),
    ("CALL pragma_version()", "CALL statement is not allowed"),
    ("EXPORT DATABASE '/tmp/x'", "EXPORT statement is not allowed"),
    ("IMPORT DATABASE '/tmp/x'", "IMPORT statement is not allowed"),
    ("getenv('HOME')", "function getenv is not allowed"),
    ("(SELECT * FROM read_parquet('/x'))", "table function read_parquet is not allowed"),
    ("dep_delay IN (SELECT dep_delay FROM \"lake/flights\")", "subqueries are not allowed"),
    ("EXISTS (SELECT 1)", "subqueries are not allowed"),
    ("glob('/*')", "table function glob is not allowed"),
    ("query('SELECT 1')", "table function query is not allowed"),
    ("sniff_csv('/etc/passwd')", "table function sniff_csv is not allowed"),
    ("\"read_csv\"('/etc/passwd')", "table function read_csv is not allowed"),
    ("main.read_csv('/etc/passwd')", "table function read_csv is not allowed"),
    ("upper(read_json('/x'))", "table function read_json is not allowed"),
    ("nextval('seq')", "function nextval is not allowed"),
    ("sleep_ms(100000)", "function sleep_ms is not allowed"),
    ("no_such_function(1)", "unknown function no_such_function"),
    ("carrier AS c", "must not carry an alias"),
    ("CREATE TABLE x AS SELECT 1", "CREATE statement is not allowed"),
    ("dep_delay >", "is not valid DuckDB SQL"),
]


@pytest.mark.parametrize("text, reason", BAD_EXPRESSIONS)
def test_bad_expressions_are_rejected_naming_the_offender(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_expression(text, field="rules[0].filter")
    message = str(caught.value)
    assert message.startswith("rules[0].filter: ")
    assert reason in message
    assert "\n" not in message


def test_error_renders_field_value_and_reason() -> None:
    with pytest.raises(ConfigError) as caught:
        check_expression("read_csv('/etc/passwd')", field="rules[0].filter")
    assert str(caught.value) == (
        "rules[0].filter: \"read_csv('/etc/passwd')\": table function read_csv is not allowed"
    )


@pytest.mark.parametrize("text", [
    "dep_delay IS NOT NULL",
    "count(*)",
    "avg(dep_delay)",
    "round(avg(dep_delay), 2)",
    "coalesce(dep_delay, 0) * 2",
    "CAST(distance AS DOUBLE) / 1.609",
    "distance::DECIMAL(10, 2)",
    "CASE WHEN dep_delay > 15 THEN 'late' ELSE 'ok' END",
    "upper(trim(carrier)) || '-' || origin",
    "carrier IN ('AA', 'UA')",
    "extract(year FROM DATE '2024-01-01')",
    "date_trunc('month', DATE '2024-03-05')",
    "regexp_matches(origin, '^J')",
    "list_transform([1, 2], x -> x + 1)",
    "row_number() OVER (PARTITION BY carrier ORDER BY id)",
    "sum(distance) FILTER (WHERE dep_delay > 0)",
    "count(DISTINCT carrier)",
    "'../../etc/passwd'",  # a string value is harmless; used as a table it is not
])
def test_ordinary_expressions_pass(text: str) -> None:
    check_expression(text, field="rules[0].derive.x")


BAD_QUERIES = [
    ("SELECT * FROM '../../etc/passwd'", "file path '../../etc/passwd' used as a table is not allowed"),
    ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv is not allowed"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "table function read_csv_auto is not allowed"),
    ("SELECT * FROM read_json_auto('/x.json')", "table function read_json_auto is not allowed"),
    ("SELECT * FROM glob('/*')", "table function glob is not allowed"),
    ("SELECT * FROM query_table('x')", "table function query_table is not allowed"),
    ("SELECT * FROM duckdb_settings()", "table function duckdb_settings is not allowed"),
    ("SELECT * FROM range(10)", "table function range is not allowed"),
    ("SELECT * FROM warehouse_0.main.airlines", "qualified table name"),
    ("SELECT * FROM sqlite_master", "unknown table 'sqlite_master'"),
    ("SELECT * FROM \"lake/flights\" WHERE id IN (SELECT * FROM read_parquet('/x'))",
     "table function read_parquet is not allowed"),
    ("SELECT 1 INTO x", "INTO is not allowed"),
    ("INSERT INTO x SELECT 1", "INSERT statement is not allowed"),
    ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY statement is not allowed"),
    ("SELECT 1; DROP TABLE x", "DROP statement is not allowed"),
    ("SELECT 1; SELECT 2", "exactly one statement expected, found 2"),
    ("PRAGMA version", "PRAGMA statement is not allowed"),
    ("CALL pragma_version()", "CALL statement is not allowed"),
    ("DESCRIBE \"lake/flights\"", "DESCRIBE statement is not allowed"),
]


@pytest.mark.parametrize("text, reason", BAD_QUERIES)
def test_bad_queries_are_rejected_naming_the_offender(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_query(text, tables=TABLES)
    assert reason in str(caught.value)


@pytest.mark.parametrize("text", [
    "SELECT carrier, count(*) AS n FROM \"lake/flights\" GROUP BY carrier",
    "WITH f AS (SELECT * FROM \"lake/flights\") SELECT * FROM f JOIN \"warehouse/airlines\" USING (carrier)",
    "SELECT * FROM \"lake/flights\" UNION ALL SELECT * FROM \"lake/flights\"",
    "SELECT * FROM \"lake/flights\" WHERE carrier IN (SELECT carrier FROM \"warehouse/airlines\")",
])
def test_selects_over_registered_sources_pass(text: str) -> None:
    check_query(text, tables=TABLES)


@pytest.mark.parametrize("text", ["INTEGER", "DECIMAL(10, 2)", "VARCHAR[]", "STRUCT(a INTEGER)", "TIMESTAMP"])
def test_types_parse(text: str) -> None:
    check_type(text, field="rules[0].cast.x")


@pytest.mark.parametrize("text", ["INTEGER; DROP TABLE x", "INT) , read_csv('/etc/passwd'", "not a type", "read_csv('/x')"])
def test_bad_types_are_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a DuckDB type"):
        check_type(text, field="rules[0].cast.x")


@pytest.mark.parametrize("text, rendered", [
    ("dep_delay", "dep_delay"),
    ("dep_delay DESC", "dep_delay DESC"),
    ("dep_delay desc nulls first", "dep_delay DESC NULLS FIRST"),
    ("coalesce(dep_delay, 0) * -1 ASC", "COALESCE(dep_delay, 0) * -1 ASC"),
])
def test_ordering_terms_parse(text: str, rendered: str) -> None:
    assert check_ordering(text, field="rules[0].dedupe.order[0]").sql(dialect="duckdb") == rendered


@pytest.mark.parametrize("text, reason", [
    ("id, origin", "is not an ORDER BY term"),
    ("id AS x", "is not an ORDER BY term"),
    ("id; DROP TABLE x", "DROP statement is not allowed"),
    ("read_csv('/etc/passwd') DESC", "table function read_csv is not allowed"),
    ("(SELECT max(id) FROM \"lake/flights\")", "subqueries are not allowed"),
])
def test_bad_ordering_terms_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        check_ordering(text, field="rules[0].dedupe.order[0]")


@pytest.mark.parametrize("text", [
    "WITH a AS (SELECT * FROM \"lake/flights\"), b AS (SELECT * FROM a) SELECT * FROM b",
    "WITH a AS (SELECT 1 AS x) SELECT * FROM (SELECT * FROM a) t WHERE x IN (SELECT x FROM a)",
    "SELECT * FROM (WITH a AS (SELECT 1 AS x) SELECT * FROM a) t",
])
def test_ctes_are_known_where_duckdb_sees_them(text: str) -> None:
    check_query(text, tables=TABLES)


@pytest.mark.parametrize("text, reason", [
    ("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", "unknown table 'b'"),  # later sibling
    ("WITH a AS (SELECT * FROM a) SELECT * FROM a", "unknown table 'a'"),  # self, not RECURSIVE
    ("SELECT * FROM (WITH a AS (SELECT 1) SELECT 1) t, a", "unknown table 'a'"),  # other scope
    ("SELECT * FROM \"lake/planes\"", "unknown table 'lake/planes' (known: lake/flights, warehouse/airlines)"),
])
def test_ctes_out_of_scope_are_unknown(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(reason)):
        check_query(text, tables=TABLES)


@pytest.mark.parametrize("text, reason", [
    ("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r", "WITH RECURSIVE is not allowed"),
    ("SELECT current_setting('allowed_directories') AS d", "current_setting"),
    ("SELECT getvariable('x') AS v", "getvariable"),
])
def test_unbounded_recursion_and_setting_readers_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        check_query(text, tables=TABLES)
