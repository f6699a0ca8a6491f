"""Compile-time errors name the rule, the bad value and what would have been valid."""

from __future__ import annotations

import json

import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.spec import TransformationSpec
from datacrew_resources.engine import Engine, compile_spec
from datacrew_resources.engine.sources import SourceRef

from .helpers import make_spec

FLIGHT_COLUMNS = (("id", "INTEGER"), ("carrier", "VARCHAR"), ("origin", "VARCHAR"),
                  ("dep_delay", "DOUBLE"), ("distance", "BIGINT"))
SOURCES = {
    "lake/flights": SourceRef("lake/flights", "parquet", "/nowhere/flights.parquet", columns=FLIGHT_COLUMNS),
    "warehouse/airlines": SourceRef("warehouse/airlines", "duckdb_table", "/nowhere/w.db", table="main.airlines",
                                    columns=(("carrier", "VARCHAR"), ("name", "VARCHAR"))),
}
BOTH = ["lake/flights", "warehouse/airlines"]


def compile_error(rules: list, columns: list, sources: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        compile_spec(make_spec(rules, columns, sources=sources), SOURCES, file="specs/t.yaml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("specs/t.yaml: ")
    return message


@pytest.mark.parametrize("rules, field, bad", [
    ([{"filter": "nope > 1"}], "rules[0].filter", "unknown column 'nope'"),
    ([{"derive": {"x": "nope + 1"}}], "rules[0].derive.x", "unknown column 'nope'"),
    ([{"select": ["id", "nope"]}], "rules[0].select", "'nope': unknown column"),
    ([{"rename": {"nope": "x"}}], "rules[0].rename", "'nope': unknown column"),
    ([{"cast": {"nope": "INTEGER"}}], "rules[0].cast", "'nope': unknown column"),
    ([{"group_by": ["nope"]}, {"aggregate": {"n": "count(*)"}}], "rules[0].group_by", "'nope': unknown column"),
    ([{"group_by": ["carrier"]}, {"aggregate": {"n": "sum(nope)"}}], "rules[1].aggregate.n", "unknown column 'nope'"),
    ([{"aggregate": {"n": "sum(nope)"}}], "rules[0].aggregate.n", "unknown column 'nope'"),
    ([{"join": {"source": "warehouse/airlines", "on": ["nope"]}}], "rules[0].join.on", "'nope': unknown column"),
    ([{"join": {"source": "warehouse/airlines", "on": {"carrier": "nope"}}}], "rules[0].join.on",
     "'nope': unknown column in warehouse/airlines"),
    ([{"join": {"source": "warehouse/airlines", "on": ["carrier"], "columns": ["nope"]}}], "rules[0].join.columns",
     "'nope': unknown column in warehouse/airlines"),
    ([{"drop": ["origin", "nope"]}], "rules[0].drop", "'nope': unknown column"),
    ([{"dedupe": {"keys": ["carrier", "nope"]}}], "rules[0].dedupe.keys", "'nope': unknown column"),
    ([{"dedupe": ["nope"]}], "rules[0].dedupe.keys", "'nope': unknown column"),
    ([{"dedupe": {"keys": ["carrier"], "order": ["id", "nope DESC"]}}], "rules[0].dedupe.order[1]",
     "'nope DESC': unknown column 'nope'"),
    ([{"fill_null": {"nope": 0}}], "rules[0].fill_null", "'nope': unknown column"),
    ([{"normalize": {"trim": ["nope"]}}], "rules[0].normalize.trim", "'nope': unknown column"),
    ([{"normalize": {"lower": ["nope"]}}], "rules[0].normalize.lower", "'nope': unknown column"),
    ([{"normalize": {"upper": ["nope"]}}], "rules[0].normalize.upper", "'nope': unknown column"),
    ([{"normalize": {"categories": {"nope": {"A": ["a"]}}}}], "rules[0].normalize.categories", "'nope': unknown column"),
    ([{"normalize": {"min_max": ["nope"]}}], "rules[0].normalize.min_max", "'nope': unknown column"),
    ([{"normalize": {"z_score": ["nope"]}}], "rules[0].normalize.z_score", "'nope': unknown column"),
    ([{"filter": "id > 0"}, {"drop": ["nope"]}], "rules[1].drop", "'nope': unknown column"),
])
def test_unknown_columns_name_the_rule_and_the_known_columns(rules, field, bad) -> None:
    message = compile_error(rules, [("id", "INTEGER")], sources=BOTH)
    assert f": {field}: " in message
    assert bad in message
    assert "known: " in message


def test_columns_after_a_rule_are_what_the_rule_left() -> None:
    message = compile_error([{"select": ["id"]}, {"filter": "carrier = 'AA'"}], [("id", "INTEGER")])
    assert "rules[1].filter" in message and "unknown column 'carrier' (known: id)" in message


def test_unknown_source() -> None:
    message = compile_error([], [("id", "INTEGER")], sources=["lake/planes"])
    assert message == "specs/t.yaml: sources[0]: 'lake/planes': unknown source (registered: lake/flights, warehouse/airlines)"


def test_group_by_must_be_followed_by_aggregate() -> None:
    message = compile_error([{"group_by": ["carrier"]}, {"filter": "id > 1"}], [("carrier", "VARCHAR")])
    assert "rules[0].group_by" in message and "must be followed by an aggregate rule" in message


def test_join_name_clash_without_prefix_is_an_error() -> None:
    sources = dict(SOURCES)
    sources["warehouse/airlines"] = SourceRef("warehouse/airlines", "duckdb_table", "/nowhere/w.db", table="main.a",
                                              columns=(("carrier", "VARCHAR"), ("origin", "VARCHAR")))
    spec = make_spec([{"join": {"source": "warehouse/airlines", "on": ["carrier"]}}], [("id", "INTEGER")],
                     sources=BOTH)
    with pytest.raises(ConfigError, match="'origin': column from warehouse/airlines clashes"):
        compile_spec(spec, sources)
    prefixed = make_spec([{"join": {"source": "warehouse/airlines", "on": ["carrier"], "prefix": "a_"}}],
                         [("a_origin", "VARCHAR")], sources=BOTH)
    assert compile_spec(prefixed, sources).output_columns == ("a_origin",)


def test_expression_that_does_not_bind_names_its_rule() -> None:
    message = compile_error([{"filter": "id > 0"}, {"derive": {"x": "carrier + 1"}}], [("x", "INTEGER")])
    assert "specs/t.yaml: rules[1].derive.x: 'carrier + 1': does not bind:" in message


def test_aggregate_in_a_filter_is_reported_at_compile_time() -> None:
    message = compile_error([{"filter": "avg(dep_delay) > 1"}], [("id", "INTEGER")])
    assert "specs/t.yaml: rules[0].filter: 'avg(dep_delay) > 1': does not bind:" in message


@pytest.mark.parametrize("rules, field, value", [
    ([{"group_by": ["carrier"]}, {"aggregate": {"n": "dep_delay"}}], "rules[1].aggregate",
     "{'n': 'dep_delay'}"),
    ([{"filter": "id > 1"}, {"cast": {"id": "DECIMAL(40, 2)"}}], "rules[1].cast", "{'id': 'DECIMAL(40, 2)'}"),
])
def test_every_rule_that_does_not_bind_names_its_text(rules, field, value) -> None:
    message = compile_error(rules, [("id", "INTEGER")], sources=BOTH)
    assert f"specs/t.yaml: {field}: {value}: does not bind:" in message


def test_rename_onto_an_existing_column_is_an_error() -> None:
    message = compile_error([{"rename": {"origin": "carrier"}}], [("carrier", "VARCHAR")])
    assert "rules[0].rename: 'carrier': column would appear twice" in message


def test_bad_cast_type() -> None:
    message = compile_error([{"cast": {"id": "NOT A TYPE"}}], [("id", "INTEGER")])
    assert "rules[0].cast.id: 'NOT A TYPE': is not a DuckDB type" in message


def test_declared_column_not_produced() -> None:
    message = compile_error([{"select": ["id"]}], [("id", "INTEGER"), ("carrier", "VARCHAR")])
    assert "target_schema.columns[1].name: 'carrier': is not produced by the rules (known: id)" in message


def test_min_max_need_a_numeric_column() -> None:
    message = compile_error([], [{"name": "carrier", "type": "VARCHAR", "min": 1}])
    assert "target_schema.columns[0]: 'carrier': min/max need a numeric type, not VARCHAR" in message


def test_guard_runs_on_every_rule_expression() -> None:
    message = compile_error([{"derive": {"x": "read_text('/etc/passwd')"}}], [("x", "VARCHAR")])
    assert "rules[0].derive.x" in message and "table function read_text is not allowed" in message


def test_plan_is_one_select_over_quoted_source_names_and_json_serialisable() -> None:
    spec = make_spec(
        [{"filter": "dep_delay IS NOT NULL"},
         {"join": {"source": "warehouse/airlines", "on": ["carrier"]}},
         {"group_by": ["carrier", "name"]},
         {"aggregate": {"flights": "count(*)", "avg_dep_delay": "avg(dep_delay)"}}],
        [("carrier", "VARCHAR"), ("name", "VARCHAR"), ("flights", "BIGINT"), ("avg_dep_delay", "DOUBLE")],
        sources=BOTH,
    )
    plan = compile_spec(spec, SOURCES)
    assert plan.output_columns == ("carrier", "name", "flights", "avg_dep_delay")
    assert plan.output_types == ("VARCHAR", "VARCHAR", "BIGINT", "DOUBLE")
    assert plan.source_keys == ("lake/flights", "warehouse/airlines")
    assert plan.views == {"lake/flights": '"lake/flights"', "warehouse/airlines": '"warehouse/airlines"'}
    assert 'FROM "lake/flights"' in plan.sql and 'JOIN "warehouse/airlines"' in plan.sql
    assert plan.conversions == {}
    assert json.loads(json.dumps(plan.to_dict()))["output_columns"] == list(plan.output_columns)


def test_conversions_to_declared_types() -> None:
    spec = make_spec([], [("id", "BIGINT"), ("distance", "INTEGER"), ("carrier", "VARCHAR")])
    plan = compile_spec(spec, SOURCES)
    # INTEGER -> BIGINT widens implicitly; BIGINT -> INTEGER may not fit, so it is checked.
    assert plan.conversions == {"id": "cast", "distance": "checked_cast"}
    assert plan.dropped_columns == ("origin", "dep_delay")


def test_partition_by_does_not_change_the_select() -> None:
    plain = make_spec([], [("id", "INTEGER")])
    data = plain.model_dump()
    data["output"] = {"format": "parquet", "partition_by": ["id"]}
    partitioned = TransformationSpec.model_validate(data)
    assert compile_spec(partitioned, SOURCES).sql == compile_spec(plain, SOURCES).sql


def test_engine_learns_missing_column_lists_from_the_files(engine: Engine) -> None:
    plan = engine.compile(make_spec([{"select": ["carrier"]}], [("carrier", "VARCHAR")]))
    assert plan.output_columns == ("carrier",)


def test_compile_needs_column_lists() -> None:
    sources = {"lake/flights": SourceRef("lake/flights", "parquet", "/nowhere/f.parquet")}
    with pytest.raises(ConfigError, match="no column list is known"):
        compile_spec(make_spec([], [("id", "INTEGER")]), sources)


def test_types_parquet_cannot_store_are_rejected() -> None:
    message = compile_error([{"aggregate": {"total": "sum(distance)"}}], [("total", "HUGEINT")])
    assert "target_schema.columns[0].type: 'HUGEINT': parquet cannot store HUGEINT" in message



def test_type_with_no_conversion_at_all_is_a_compile_error() -> None:
    message = compile_error([], [("carrier", "VARCHAR"), ("id", "DATE")])
    assert "target_schema.columns[1].type: 'DATE': column 'id': the rules produce INTEGER, which cannot convert to DATE" in message


def test_unknown_column_in_a_sql_rule_names_the_rule_and_its_text() -> None:
    message = compile_error([{"filter": "id > 0"}, {"sql": "SELECT nope FROM previous"}], [("id", "INTEGER")])
    assert message.startswith("specs/t.yaml: rules[1].sql: 'SELECT nope FROM previous': does not bind: ")
    assert '"nope" not found' in message


@pytest.mark.parametrize("rules, field_value, problem", [
    ([{"fill_null": {"distance": 1.5}}], "rules[0].fill_null.distance: 1.5", "would change to 2 as BIGINT"),
    ([{"fill_null": {"distance": "abc"}}], "rules[0].fill_null.distance: 'abc'", "does not convert to BIGINT"),
    ([{"fill_null": {"id": 2**40}}], "rules[0].fill_null.id: 1099511627776", "does not convert to INTEGER"),
    ([{"fill_null": {"origin": None}}], "rules[0].fill_null.origin: None", "must not be null"),
    ([{"fill_null": {"origin": ["a"]}}], "rules[0].fill_null.origin: ['a']",
     "must be a string, number, boolean or date"),
    ([{"fill_null": {"dep_delay": float("nan")}}], "rules[0].fill_null.dep_delay: nan", "must be a finite number"),
    ([{"drop": ["id", "carrier", "origin", "dep_delay", "distance"]}], "rules[0].drop", "would drop every column"),
    ([{"dedupe": ["carrier", "CARRIER"]}], "rules[0].dedupe.keys: 'carrier'", "column would appear twice"),
    ([{"dedupe": {"keys": ["carrier"], "order": ["id; DROP TABLE x"]}}], "rules[0].dedupe.order[0]",
     "DROP statement is not allowed"),
    ([{"dedupe": {"keys": ["carrier"], "order": ["id, origin"]}}], "rules[0].dedupe.order[0]",
     "is not an ORDER BY term"),
    ([{"dedupe": {"keys": ["carrier"], "order": ["read_text('/etc/passwd')"]}}], "rules[0].dedupe.order[0]",
     "table function read_text is not allowed"),
    ([{"normalize": {"lower": ["carrier"], "upper": ["carrier"]}}], "rules[0].normalize.upper: 'carrier'",
     "column is in both lower and upper"),
    ([{"normalize": {"min_max": ["distance"], "z_score": ["distance"]}}], "rules[0].normalize.z_score: 'distance'",
     "column is in both min_max and z_score"),
    ([{"normalize": {"trim": ["origin", "ORIGIN"]}}], "rules[0].normalize.trim: 'ORIGIN'", "column is listed twice"),
    ([{"normalize": {"trim": ["id"]}}], "rules[0].normalize.trim: 'id'", "trim needs a VARCHAR column, not INTEGER"),
    ([{"normalize": {"categories": {"distance": {"A": ["a"]}}}}], "rules[0].normalize.categories: 'distance'",
     "categories needs a VARCHAR column, not BIGINT"),
    ([{"normalize": {"min_max": ["carrier"]}}], "rules[0].normalize.min_max: 'carrier'",
     "min_max needs a numeric column, not VARCHAR"),
    ([{"normalize": {"categories": {"origin": {"NYC": ["JFK"], "Queens": [" jfk "]}}}}],
     "rules[0].normalize.categories.origin: ' jfk '", "variant is listed under both 'NYC' and 'Queens'"),
    ([{"sql": "WITH previous AS (SELECT 1 AS id) SELECT * FROM previous"}], "rules[0].sql",
     "the CTE name 'previous' is reserved"),
    ([{"sql": 'SELECT * FROM "lake/planes"'}], "rules[0].sql", "unknown table 'lake/planes'"),
    ([{"sql": "SELECT * FROM previous; SELECT * FROM previous"}], "rules[0].sql",
     "exactly one statement expected, found 2"),
])
def test_new_rules_reject_bad_values_naming_field_and_value(rules, field_value, problem) -> None:
    message = compile_error(rules, [("id", "INTEGER")])
    assert message.startswith(f"specs/t.yaml: {field_value}")
    assert problem in message


def test_sql_rule_may_read_only_the_specs_own_sources() -> None:
    # warehouse/airlines is registered on the platform but not listed in this spec's sources.
    message = compile_error([{"sql": 'SELECT * FROM previous JOIN "warehouse/airlines" USING (carrier)'}],
                            [("id", "INTEGER")])
    assert "rules[0].sql" in message
    assert "unknown table 'warehouse/airlines' (known: lake/flights, previous)" in message


def test_sql_rule_sources_are_part_of_the_plan() -> None:
    spec = make_spec([{"sql": 'SELECT p.id, a.name FROM previous p JOIN "warehouse/airlines" a USING (carrier)'}],
                     [("id", "INTEGER"), ("name", "VARCHAR")], sources=BOTH)
    plan = compile_spec(spec, SOURCES)
    assert plan.source_keys == ("lake/flights", "warehouse/airlines")
    # A sql rule that never reads the first source still starts from it (`previous`).
    unused = make_spec([{"sql": 'SELECT name FROM "warehouse/airlines"'}], [("name", "VARCHAR")], sources=BOTH)
    assert compile_spec(unused, SOURCES).source_keys == ("lake/flights", "warehouse/airlines")
