"""Column lineage across the demo graph: `datacrew lineage KEY --columns` and `dagster/column_lineage`."""

from __future__ import annotations

import json

import dagster as dg

from datacrew_assets.cli import main
from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB

from .conftest import write_spec


def _cli(capsys, home, *args: str) -> tuple[int, str, str]:
    code = main(["lineage", *args, "--columns", "--home", str(home.root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _columns(report: dict, asset: str) -> dict[str, dict]:
    [entry] = [a for a in report["assets"] if a["asset_key"] == asset]
    return {c["name"]: c for c in entry["columns"]}


def test_upstream_text_follows_transformation_chains_without_a_materialization(home, capsys):
    code, out, err = _cli(capsys, home, "transformed/daily_summary", "--upstream")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "transformed/daily_summary"
    assert ("  transformed/daily_summary.avg_dep_delay <- transformed/flights_clean.dep_delay"
            " <- lake/flights.dep_delay") in lines
    assert "  transformed/daily_summary.flights <- (no source column)" in lines  # count(*)
    assert [l for l in lines if l.startswith("  transformed/daily_summary.flight_date")] == [
        f"  transformed/daily_summary.flight_date <- transformed/flights_clean.flight_date <- lake/flights.{c}"
        for c in ("year", "month", "day")
    ]
    # the ancestor's own section, one hop to the discovered dataset
    assert "transformed/flights_clean" in lines
    assert "  transformed/flights_clean.is_delayed <- lake/flights.dep_delay" in lines
    assert not home.output_path(["transformed", "flights_clean"]).exists()


def test_json_gives_direct_sources_kinds_and_origins(home, capsys):
    code, out, err = _cli(capsys, home, "transformed/route_stats", "--upstream", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert [a["asset_key"] for a in report["assets"]] == ["transformed/route_stats", "transformed/flights_clean"]
    columns = _columns(report, "transformed/route_stats")
    assert columns["origin_name"]["depends_on"] == [{"asset_key": "lake/airports", "column": "name", "kind": "identity"}]
    assert columns["origin_name"]["origins"] == [{"asset_key": "lake/airports", "column": "name"}]
    assert columns["flights"] == {"name": "flights", "depends_on": [], "origins": [], "upstream_paths": []}
    assert columns["delayed_share"]["depends_on"] == [
        {"asset_key": "transformed/flights_clean", "column": "is_delayed", "kind": "aggregated"}]
    assert columns["delayed_share"]["upstream_paths"] == [[
        {"asset_key": "transformed/flights_clean", "column": "is_delayed", "kind": "aggregated"},
        {"asset_key": "lake/flights", "column": "dep_delay", "kind": "derived"},
    ]]
    clean = _columns(report, "transformed/flights_clean")
    assert clean["dep_delay"]["depends_on"] == [{"asset_key": "lake/flights", "column": "dep_delay", "kind": "cast"}]
    assert [o["column"] for o in clean["flight_date"]["origins"]] == ["year", "month", "day"]


def test_downstream_from_a_discovered_dataset(home, capsys):
    code, out, err = _cli(capsys, home, "lake/flights", "--downstream", "--json")
    assert code == 0, err
    columns = _columns(json.loads(out), "lake/flights")
    reached = {tuple(f"{s['asset_key']}.{s['column']}" for s in p) for p in columns["dep_delay"]["downstream_paths"]}
    assert ("transformed/flights_clean.dep_delay", "transformed/daily_summary.avg_dep_delay") in reached
    assert ("transformed/delays_by_carrier.avg_dep_delay",) in reached
    assert ("transformed/flights_clean.is_delayed", "transformed/route_stats.delayed_share") in reached
    assert columns["hour"]["downstream_paths"] == []
    code, out, _ = _cli(capsys, home, "lake/flights", "--downstream")
    assert "  lake/flights.hour -> (read by no transformation)" in out.splitlines()


def test_a_new_spec_extends_the_chain(home, capsys):
    write_spec(home, "delay_bands", (
        "name: delay_bands\ntype: etl\nsources: [transformed/daily_summary]\n"
        "rules:\n  - rename: {avg_dep_delay: mean_delay}\n"
        "  - derive: {band: \"CASE WHEN mean_delay > 15 THEN 'late' ELSE 'ok' END\"}\n"
        "target_schema:\n  columns:\n    - {name: flight_date, type: DATE}\n"
        "    - {name: mean_delay, type: DOUBLE}\n    - {name: band, type: VARCHAR}\n"
        "owner: team:analytics\nagent: etl-architect-1\n"))
    code, out, err = _cli(capsys, home, "transformed/delay_bands")
    assert code == 0, err
    lines = out.splitlines()
    assert ("  transformed/delay_bands.band <- transformed/daily_summary.avg_dep_delay"
            " <- transformed/flights_clean.dep_delay <- lake/flights.dep_delay") in lines
    assert ("  transformed/delay_bands.mean_delay <- transformed/daily_summary.avg_dep_delay"
            " <- transformed/flights_clean.dep_delay <- lake/flights.dep_delay") in lines
    assert "transformed/flights_clean" not in lines  # ancestors only with --upstream


def test_unknown_key_is_bad_input(home, capsys):
    code, _, err = _cli(capsys, home, "lake/nothing")
    assert code == 2
    assert "no such asset" in err and "lake/flights" in err and "transformed/route_stats" in err


def test_materialization_carries_dagster_column_lineage(home):
    job = build_definitions(home).resolve_job_def(TRANSFORM_JOB)
    result = job.execute_in_process(instance=dg.DagsterInstance.get(),
                                    asset_selection=[dg.AssetKey(["transformed", "delays_by_carrier"])])
    [event] = result.get_asset_materialization_events()
    lineage = event.materialization.metadata["dagster/column_lineage"].value
    assert isinstance(lineage, dg.TableColumnLineage)
    assert lineage.deps_by_column == {
        "carrier": [dg.TableColumnDep(asset_key=dg.AssetKey(["lake", "flights"]), column_name="carrier")],
        "name": [dg.TableColumnDep(asset_key=dg.AssetKey(["warehouse", "airlines"]), column_name="name")],
        "flights": [],
        "avg_dep_delay": [dg.TableColumnDep(asset_key=dg.AssetKey(["lake", "flights"]), column_name="dep_delay")],
        "avg_arr_delay": [dg.TableColumnDep(asset_key=dg.AssetKey(["lake", "flights"]), column_name="arr_delay")],
    }


def test_drawn_graph_uses_the_same_tracing_as_the_report(home, capsys):
    """`--format json` without a direction draws the graph; its column edges into each
    transformation are exactly that transformation's `depends_on` in the report."""
    code, out, err = _cli(capsys, home, "transformed/daily_summary", "--format", "json")
    assert code == 0, err
    graph = json.loads(out)
    assert [n["asset_key"] for n in graph["nodes"]] == [
        "lake/flights", "transformed/flights_clean", "transformed/daily_summary"]
    code, out, err = _cli(capsys, home, "transformed/daily_summary", "--upstream", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    for entry in report["assets"]:
        drawn = {}
        for edge in graph["edges"]:
            if edge["type"] == "column" and edge["to"]["asset_key"] == entry["asset_key"]:
                drawn.setdefault(edge["to"]["column"], []).append({**edge["from"], "kind": edge["kind"]})
        assert drawn == {c["name"]: c["depends_on"] for c in entry["columns"] if c["depends_on"]}
