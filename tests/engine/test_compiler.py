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


def test_partitioned_output_is_not_supported_yet() -> None:
    data = make_spec([], [("id", "INTEGER")]).model_dump()
    data["output"] = {"format": "parquet", "partition_by": ["id"]}
    with pytest.raises(ConfigError, match="output.partition_by"):
        compile_spec(TransformationSpec.model_validate(data), SOURCES)


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
