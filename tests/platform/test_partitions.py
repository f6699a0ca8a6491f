"""Partitioned transformations: one slice per Dagster partition, backfillable from the UI."""

from __future__ import annotations

import duckdb
import dagster as dg

from datacrew_assets.definitions import build_definitions

from .conftest import raw_flights, write_spec

MONTHLY = """\
name: carrier_months
type: aggregation
sources: [lake/flights]
rules:
  - filter: dep_delay IS NOT NULL
  - derive:
      month_start: make_date(year, month, 1)
  - group_by: [month_start, carrier]
  - aggregate: {flights: count(*)}
target_schema:
  columns:
    - {name: month_start, type: DATE, nullable: false, primary_key: true}
    - {name: carrier, type: VARCHAR, nullable: false, primary_key: true}
    - {name: flights, type: BIGINT, nullable: false}
partitions: {type: time, column: month_start, granularity: monthly, start: 2013-01-01, end: 2014-01-01}
owner: team:analytics
agent: etl-architect-1
"""

BY_ORIGIN = """\
name: origin_delays
type: aggregation
sources: [lake/flights]
rules:
  - group_by: [origin]
  - aggregate: {flights: count(*)}
target_schema:
  columns:
    - {name: origin, type: VARCHAR, nullable: false, primary_key: true}
    - {name: flights, type: BIGINT, nullable: false}
partitions: {type: static, column: origin, values: [EWR, JFK, LGA]}
owner: team:analytics
agent: etl-architect-1
"""


def _materialize(home, key: list[str], partition: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(home)
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=[dg.AssetKey(key)],
        partition_key=partition,
        instance=dg.DagsterInstance.get(),
        resources=defs.resources,
    )


def test_time_partitions_write_one_slice_each(home):
    write_spec(home, "carrier_months", MONTHLY)
    defs = build_definitions(home)
    assets = {a.key.to_user_string(): a for a in defs.assets if isinstance(a, dg.AssetsDefinition)}
    partitions = assets["transformed/carrier_months"].partitions_def
    assert len(partitions.get_partition_keys()) == 12 and partitions.get_partition_keys()[2] == "2013-03-01"

    for month in ("2013-03-01", "2013-07-01"):
        result = _materialize(home, ["transformed", "carrier_months"], month)
        assert result.success
    folder = home.outputs_dir / "transformed" / "carrier_months"
    assert sorted(p.name for p in folder.iterdir()) == ["2013-03-01.parquet", "2013-07-01.parquet"]
    with duckdb.connect() as con:
        march = con.execute(
            "SELECT carrier, flights FROM read_parquet(?) ORDER BY carrier", [str(folder / "2013-03-01.parquet")]
        ).fetchall()
    expected = raw_flights(home, "SELECT carrier, count(*) FROM flights WHERE month = 3 AND dep_delay IS NOT NULL GROUP BY carrier ORDER BY carrier")
    assert march == expected


def test_static_partitions_and_checks_over_all_slices(home):
    write_spec(home, "origin_delays", BY_ORIGIN)
    result = _materialize(home, ["transformed", "origin_delays"], "JFK")
    assert result.success
    folder = home.outputs_dir / "transformed" / "origin_delays"
    with duckdb.connect() as con:
        rows = con.execute("SELECT origin, flights FROM read_parquet(?)", [str(folder / "JFK.parquet")]).fetchall()
    assert rows == raw_flights(home, "SELECT origin, count(*) FROM flights WHERE origin = 'JFK' GROUP BY origin")
    consistency = next(e for e in result.get_asset_check_evaluations() if e.check_name == "consistency")
    assert consistency.passed and consistency.metadata["row_count"].value == 1
    # A write in progress (the writer's hidden temp file) is never read as a partition.
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 'JFK' AS origin, 1::BIGINT AS flights) TO '{folder / '.JFK.parquet.0.tmp.parquet'}'")
    again = _materialize(home, ["transformed", "origin_delays"], "EWR")
    consistency = next(e for e in again.get_asset_check_evaluations() if e.check_name == "consistency")
    assert consistency.passed and consistency.metadata["row_count"].value == 2


def test_partitioned_assets_stay_out_of_the_all_transformations_job(home):
    write_spec(home, "origin_delays", BY_ORIGIN)
    job = build_definitions(home).resolve_job_def("materialize_transformations")
    selected = {n.name for n in job.graph.node_defs}
    assert "transformed__origin_delays" not in selected and "transformed__flights_clean" in selected


def test_cli_materializes_one_partition_and_refuses_a_bad_key(home, capsys):
    import json

    from datacrew_assets.cli import main

    write_spec(home, "origin_delays", BY_ORIGIN)
    code = main(["materialize", "origin_delays", "--partition", "LGA", "--home", str(home.root), "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    [asset] = json.loads(out)["assets"]
    assert asset["status"] == "materialized" and asset["output_uri"].endswith("origin_delays/LGA.parquet")
    assert asset["record_count"] == 1
    code = main(["materialize", "origin_delays", "--partition", "XYZ", "--home", str(home.root)])
    err = capsys.readouterr().err
    assert code == 2 and "XYZ" in err
