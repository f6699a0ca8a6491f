"""Column lineage from compiled plans: the five demo specs exactly, then each SQL shape alone."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from datacrew_resources.config import ConfigError
from datacrew_resources.config.spec import load_spec
from datacrew_resources.engine import SourceRef, compile_spec
from datacrew_resources.engine.lineage import (
    AGGREGATED,
    CAST,
    DERIVED,
    IDENTITY,
    ColumnDep,
    column_lineage,
    column_lineage_detail,
    dagster_column_lineage,
    sql_column_lineage,
    traced_lineage,
)

from .helpers import make_spec

DEMO_SPECS = Path(__file__).parents[2] / "datacrew_resources" / "demo_home" / "specs"

# The discovered demo datasets' columns, as the catalog records them.
BIGINT, DOUBLE, VARCHAR, TSTZ = "BIGINT", "DOUBLE", "VARCHAR", "TIMESTAMP WITH TIME ZONE"
DISCOVERED = {
    "lake/flights": [
        ("day", BIGINT), ("dep_time", BIGINT), ("sched_dep_time", BIGINT), ("dep_delay", DOUBLE),
        ("arr_time", BIGINT), ("sched_arr_time", BIGINT), ("arr_delay", DOUBLE), ("carrier", VARCHAR),
        ("flight", BIGINT), ("tailnum", VARCHAR), ("origin", VARCHAR), ("dest", VARCHAR),
        ("air_time", DOUBLE), ("distance", BIGINT), ("hour", BIGINT), ("minute", BIGINT),
        ("time_hour", TSTZ), ("month", BIGINT), ("year", BIGINT),
    ],
    "lake/airports": [
        ("faa", VARCHAR), ("name", VARCHAR), ("lat", DOUBLE), ("lon", DOUBLE), ("alt", "HUGEINT"),
        ("tz", "HUGEINT"), ("dst", VARCHAR), ("tzone", VARCHAR),
    ],
    "warehouse/airlines": [("carrier", VARCHAR), ("name", VARCHAR)],
    "warehouse/weather": [
        ("origin", VARCHAR), ("year", BIGINT), ("month", BIGINT), ("day", BIGINT), ("hour", BIGINT),
        ("temp", DOUBLE), ("dewp", DOUBLE), ("humid", DOUBLE), ("wind_dir", BIGINT),
        ("wind_speed", DOUBLE), ("wind_gust", DOUBLE), ("precip", DOUBLE), ("pressure", DOUBLE),
        ("visib", DOUBLE), ("time_hour", TSTZ),
    ],
}


def _demo_sources() -> dict[str, SourceRef]:
    refs = {key: SourceRef(key, "parquet", f"/unused/{key}.parquet", columns=tuple(cols))
            for key, cols in DISCOVERED.items()}
    for path in DEMO_SPECS.glob("*.yaml"):
        spec = load_spec(path).spec  # a transformation's output, read by the next one
        refs[spec.key_string] = SourceRef(spec.key_string, "parquet", f"/unused/{spec.name}.parquet",
                                          columns=tuple((c.name, c.type) for c in spec.target_schema.columns))
    return refs


@pytest.fixture(scope="module")
def demo_sources() -> dict[str, SourceRef]:
    return _demo_sources()


def _demo(name: str, sources: dict[str, SourceRef]):
    return compile_spec(load_spec(DEMO_SPECS / f"{name}.yaml").spec, sources)


FLIGHTS, CLEAN = "lake/flights", "transformed/flights_clean"

EXPECTED = {
    "flights_clean": {
        "flight_date": [(FLIGHTS, "year"), (FLIGHTS, "month"), (FLIGHTS, "day")],
        "carrier": [(FLIGHTS, "carrier")],
        "flight": [(FLIGHTS, "flight")],
        "tailnum": [(FLIGHTS, "tailnum")],
        "origin": [(FLIGHTS, "origin")],
        "dest": [(FLIGHTS, "dest")],
        "route": [(FLIGHTS, "origin"), (FLIGHTS, "dest")],
        "sched_dep_time": [(FLIGHTS, "sched_dep_time")],
        "dep_delay": [(FLIGHTS, "dep_delay")],
        "arr_delay": [(FLIGHTS, "arr_delay")],
        "air_time": [(FLIGHTS, "air_time")],
        "distance": [(FLIGHTS, "distance")],
        "is_delayed": [(FLIGHTS, "dep_delay")],
        "time_hour": [(FLIGHTS, "time_hour")],
    },
    "daily_summary": {
        "flight_date": [(CLEAN, "flight_date")],
        "flights": [],  # count(*) reads no column
        "carriers": [(CLEAN, "carrier")],
        "avg_dep_delay": [(CLEAN, "dep_delay")],
        "delayed_share": [(CLEAN, "is_delayed")],
    },
    "delays_by_carrier": {
        "carrier": [(FLIGHTS, "carrier")],  # the left join key, not warehouse/airlines.carrier
        "name": [("warehouse/airlines", "name")],
        "flights": [],
        "avg_dep_delay": [(FLIGHTS, "dep_delay")],
        "avg_arr_delay": [(FLIGHTS, "arr_delay")],
    },
    "flights_weather": {
        **{c: [(CLEAN, c)] for c in ["flight_date", "carrier", "flight", "origin", "sched_dep_time",
                                      "dest", "dep_delay", "arr_delay", "is_delayed"]},
        **{c: [("warehouse/weather", c)] for c in ["temp", "wind_speed", "precip", "visib"]},
    },
    "route_stats": {
        "origin": [(CLEAN, "origin")],
        "dest": [(CLEAN, "dest")],
        "origin_name": [("lake/airports", "name")],
        "dest_name": [("lake/airports", "name")],
        "flights": [],
        "distance": [(CLEAN, "distance")],
        "avg_air_time": [(CLEAN, "air_time")],
        "avg_arr_delay": [(CLEAN, "arr_delay")],
        "delayed_share": [(CLEAN, "is_delayed")],
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_demo_specs_exact_lineage(name, demo_sources):
    plan = _demo(name, demo_sources)
    lineage = column_lineage(plan, demo_sources)
    assert list(lineage) == list(plan.output_columns)
    assert lineage == EXPECTED[name]


def test_demo_kinds(demo_sources):
    clean = column_lineage_detail(_demo("flights_clean", demo_sources), demo_sources)
    assert clean["carrier"] == [ColumnDep(FLIGHTS, "carrier", IDENTITY)]
    assert clean["dep_delay"] == [ColumnDep(FLIGHTS, "dep_delay", CAST)]  # cast rule: DOUBLE -> INTEGER
    assert {d.kind for d in clean["flight_date"]} == {DERIVED}
    summary = column_lineage_detail(_demo("daily_summary", demo_sources), demo_sources)
    assert summary["flight_date"][0].kind == IDENTITY
    assert summary["avg_dep_delay"] == [ColumnDep(CLEAN, "dep_delay", AGGREGATED)]
    assert summary["delayed_share"][0].kind == AGGREGATED  # CASE inside avg()
    stats = column_lineage_detail(_demo("route_stats", demo_sources), demo_sources)
    assert stats["origin_name"] == [ColumnDep("lake/airports", "name", IDENTITY)]  # prefixed: a rename


def test_dagster_column_lineage(demo_sources):
    plan = _demo("delays_by_carrier", demo_sources)
    value = dagster_column_lineage(column_lineage_detail(plan, demo_sources))
    assert isinstance(value, dg.TableColumnLineage)
    assert value.deps_by_column["name"] == [
        dg.TableColumnDep(asset_key=dg.AssetKey(["warehouse", "airlines"]), column_name="name")]
    assert value.deps_by_column["flights"] == []
    assert dagster_column_lineage(column_lineage(plan, demo_sources)) == value  # pairs work too


# -- each shape on the small engine fixture (lake/flights: id, carrier, origin, dep_delay, distance)

SMALL = {
    "lake/flights": [("id", "INTEGER"), ("carrier", "VARCHAR"), ("origin", "VARCHAR"),
                     ("dep_delay", "DOUBLE"), ("distance", "BIGINT")],
    "warehouse/airlines": [("carrier", "VARCHAR"), ("name", "VARCHAR")],
}


def _small_refs() -> dict[str, SourceRef]:
    return {k: SourceRef(k, "parquet", "/unused", columns=tuple(v)) for k, v in SMALL.items()}


def _compiled(rules: list, columns: list, sources: list[str] | None = None) -> dict[str, list[ColumnDep]]:
    refs = _small_refs()
    return column_lineage_detail(compile_spec(make_spec(rules, columns, sources=sources), refs), refs)


def test_rename_chain_and_coalesce_of_full_join_keys():
    lineage = _compiled(
        [{"rename": {"carrier": "code"}},
         {"join": {"source": "warehouse/airlines", "on": {"code": "carrier"}, "how": "full", "prefix": "a_"}},
         {"derive": {"label": "coalesce(a_name, code, 'unknown')"}}],
        [("code", "VARCHAR"), ("a_name", "VARCHAR"), ("label", "VARCHAR")],
        sources=["lake/flights", "warehouse/airlines"],
    )
    # A full join's key takes the right side's value for unmatched rows.
    assert lineage["code"] == [ColumnDep("lake/flights", "carrier", DERIVED),
                               ColumnDep("warehouse/airlines", "carrier", DERIVED)]
    assert lineage["a_name"] == [ColumnDep("warehouse/airlines", "name", IDENTITY)]
    assert [(d.source, d.column) for d in lineage["label"]] == [
        ("warehouse/airlines", "name"), ("lake/flights", "carrier"), ("warehouse/airlines", "carrier")]


def test_checked_cast_in_the_projection_is_a_cast():
    lineage = _compiled([], [("dep_delay", "INTEGER"), ("carrier", "VARCHAR")])
    assert lineage == {"dep_delay": [ColumnDep("lake/flights", "dep_delay", CAST)],
                       "carrier": [ColumnDep("lake/flights", "carrier", IDENTITY)]}


def test_window_function_depends_on_partition_and_order_columns():
    lineage = _compiled(
        [{"derive": {"rank": "row_number() OVER (PARTITION BY carrier ORDER BY dep_delay)",
                     "share": "distance / sum(distance) OVER ()"}}],
        [("rank", "BIGINT"), ("share", "DOUBLE")],
    )
    assert lineage["rank"] == [ColumnDep("lake/flights", "carrier", AGGREGATED),
                               ColumnDep("lake/flights", "dep_delay", AGGREGATED)]
    # the same column met plainly and inside a window keeps the stronger kind
    assert lineage["share"] == [ColumnDep("lake/flights", "distance", AGGREGATED)]


def test_filter_columns_are_not_dependencies():
    lineage = _compiled([{"filter": "dep_delay > 0 AND origin = 'JFK'"}, {"select": ["id"]}], [("id", "INTEGER")])
    assert lineage == {"id": [ColumnDep("lake/flights", "id", IDENTITY)]}


def test_sql_shapes_stars_subqueries_unions_and_case():
    sql = """
        WITH a AS (SELECT * FROM "lake/flights"),
             b AS (SELECT f.*, w.name FROM a AS f JOIN "warehouse/airlines" AS w USING (carrier))
        SELECT CASE WHEN dep_delay > 15 THEN name ELSE 'on time' END AS status,
               (SELECT max(distance) FROM "lake/flights") AS longest,
               t.n AS n,
               Carrier
        FROM b, (SELECT count(*) AS n FROM a) AS t
        UNION ALL
        SELECT origin, id, distance, carrier FROM "lake/flights"
    """
    lineage = sql_column_lineage(sql, SMALL)
    pairs = {name: [(d.source, d.column, d.kind) for d in deps] for name, deps in lineage.items()}
    assert pairs == {
        "status": [("lake/flights", "dep_delay", DERIVED), ("warehouse/airlines", "name", DERIVED),
                   ("lake/flights", "origin", IDENTITY)],
        "longest": [("lake/flights", "distance", AGGREGATED), ("lake/flights", "id", IDENTITY)],
        "n": [("lake/flights", "distance", IDENTITY)],
        # USING: DuckDB returns the left key
        "carrier": [("lake/flights", "carrier", IDENTITY)],
    }


def test_output_names_follow_the_plan_and_sources_any_case():
    lineage = sql_column_lineage('SELECT "DepDelay" + 1 AS "Out" FROM "lake/flights"',
                                 {"lake/flights": ["Id", "DepDelay"]}, output_columns=["Out"])
    assert lineage == {"Out": [ColumnDep("lake/flights", "DepDelay", DERIVED)]}


def test_untraceable_sql_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot trace column lineage"):
        sql_column_lineage('SELECT nope FROM "lake/flights"', SMALL)
    with pytest.raises(ConfigError, match="cannot trace column lineage"):
        sql_column_lineage('SELECT * FROM "lake/unknown"', SMALL)
    plan = compile_spec(make_spec([], [("id", "INTEGER")]), _small_refs())
    with pytest.raises(ConfigError, match="no column list"):
        column_lineage(plan, {})


def test_table_functions_lateral_and_aggregate_filters():
    sources = {"lake/flights": ["id", "l", "x"]}
    kinds = lambda sql: {n: [(d.column, d.kind) for d in deps]  # noqa: E731
                         for n, deps in sql_column_lineage(sql, sources).items()}
    assert kinds('SELECT u.v FROM "lake/flights", unnest(l) AS u(v)') == {"v": [("l", DERIVED)]}
    assert kinds('SELECT v, id FROM "lake/flights" AS f CROSS JOIN LATERAL (SELECT f.x + 1 AS v)') == {
        "v": [("x", DERIVED)], "id": [("id", IDENTITY)]}
    assert kinds('SELECT sum(id) FILTER (WHERE x > 0) AS s FROM "lake/flights"') == {
        "s": [("id", AGGREGATED), ("x", AGGREGATED)]}
    assert kinds('SELECT r.range AS v FROM range(3) AS r') == {"v": []}  # no source behind it
    with pytest.raises(ConfigError, match="COLUMNS"):  # sqlglot does not expand it
        sql_column_lineage("""WITH a AS (SELECT COLUMNS('i.*') FROM "lake/flights") SELECT id FROM a""", sources)
    with pytest.raises(ConfigError, match="output columns"):
        sql_column_lineage('SELECT id FROM "lake/flights"', sources, output_columns=["x"])


def test_traced_lineage_returns_none_instead_of_failing(caplog):
    refs = _small_refs()
    plan = compile_spec(make_spec([], [("id", "INTEGER")]), refs)
    assert traced_lineage(plan, refs) == {"id": [ColumnDep("lake/flights", "id", IDENTITY)]}
    assert traced_lineage(plan, {}) is None
    assert "no column lineage" in caplog.text
