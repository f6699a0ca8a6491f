"""The CLI contract: JSON fields, exit codes, and bad input that loses nothing."""

from __future__ import annotations

import json

import pytest

from datacrew_assets.cli import main
from datacrew_resources.catalog.store import CatalogStore

from .conftest import run_assets, write_spec


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_materialize_json_then_lineage(home, capsys):
    code, out, err = _cli(capsys, "materialize", "delays_by_carrier", "--home", str(home.root), "--json")
    assert code == 0, err
    [asset] = json.loads(out)["assets"]
    assert asset["asset_key"] == "transformed/delays_by_carrier" and asset["status"] == "materialized"
    assert asset["record_count"] == 16 and asset["output_uri"].endswith("delays_by_carrier.parquet")
    assert sorted(c["name"] for c in asset["checks"]) == [
        "accuracy", "completeness", "consistency", "row_count_anomaly", "schema_conformity"
    ]
    assert all(c["passed"] for c in asset["checks"])

    code, out, _ = _cli(capsys, "lineage", "transformed/daily_summary", "--upstream", "--home", str(home.root), "--format", "json")
    upstream = {(e["asset_key"], e["depends_on"]) for e in json.loads(out)["upstream"]}
    assert upstream == {("transformed/daily_summary", "transformed/flights_clean"), ("transformed/flights_clean", "lake/flights")}
    code, out, _ = _cli(capsys, "lineage", "lake/flights", "--downstream", "--home", str(home.root))
    assert code == 0
    assert "downstream transformed/flights_clean -> transformed/route_stats" in out
    assert "downstream lake/flights -> transformed/delays_by_carrier" in out


def test_validate_and_discover_json(home, capsys):
    code, out, _ = _cli(capsys, "validate", "--home", str(home.root), "--json")
    assert code == 0 and len(json.loads(out)["specs"]) == 7
    code, out, _ = _cli(capsys, "discover", "--home", str(home.root), "--json")
    datasets = {d["asset_key"]: d for d in json.loads(out)["datasets"]}
    assert datasets["lake/flights"]["record_count"] == 336_776
    assert set(datasets["lake/flights"]) >= {"dataset_name", "asset_key", "source", "record_count", "schema", "quality_score", "last_updated"}


GOOD = (
    "name: delays_by_carrier\ntype: aggregation\nsources: [lake/flights, warehouse/airlines]\n"
    "rules:\n  - filter: FILTER\n  - join: {source: warehouse/airlines, on: [carrier]}\n"
    "  - group_by: [carrier, name]\n  - aggregate: {flights: count(*)}\n"
    "target_schema:\n  columns:\n    - {name: carrier, type: CARRIER_TYPE, primary_key: true}\n"
    "    - {name: name, type: VARCHAR}\n    - {name: flights, type: BIGINT}\n"
    "owner: team:analytics\nagent: etl-architect-1\n"
)


def _spec(filter_sql: str = "dep_delay IS NOT NULL", carrier_type: str = "VARCHAR", sources: str = "") -> str:
    text = GOOD.replace("FILTER", json.dumps(filter_sql)).replace("CARRIER_TYPE", carrier_type)
    return text.replace("[lake/flights, warehouse/airlines]", sources) if sources else text


BAD_SPECS = {
    "unknown source": (_spec(sources="[lake/nope, warehouse/airlines]"), "sources[0]: 'lake/nope': unknown source"),
    "unknown column": (_spec("no_such_column > 1"), "unknown column 'no_such_column'"),
    "impossible type": (_spec().replace("{name: flights, type: BIGINT}", "{name: flights, type: DATE}"), "column 'flights': the rules produce BIGINT, which cannot convert to DATE"),
    "read_csv": (_spec("(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"), "table function read_csv is not allowed"),
    "table function": (_spec("read_text('/etc/passwd') IS NOT NULL"), "rules[0].filter: \"read_text('/etc/passwd') IS NOT NULL\": table function read_text is not allowed"),
    "copy": (_spec("1=1; COPY (SELECT 1) TO '/tmp/x.csv'"), "COPY statement is not allowed"),
    "attach": (_spec("1=1; ATTACH '/tmp/x.db'"), "ATTACH statement is not allowed"),
    "second statement": (_spec("dep_delay > 0; DROP TABLE airlines"), "rules[0].filter: 'dep_delay > 0; DROP TABLE airlines': DROP statement is not allowed"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_one_line_exit_2_and_loses_nothing(home, capsys, case):
    assert _cli(capsys, "materialize", "delays_by_carrier", "--home", str(home.root))[0] == 0
    output = home.output_path(["transformed", "delays_by_carrier"])
    before_output, before_catalog = output.read_bytes(), CatalogStore(home.catalog_path).all()

    text, expected = BAD_SPECS[case]
    write_spec(home, "delays_by_carrier", text)
    for command in ("validate", "materialize"):
        args = [command, "--home", str(home.root)] + (["delays_by_carrier"] if command == "materialize" else [])
        code, out, err = _cli(capsys, *args)
        assert code == 2, (command, out, err)
        [line] = err.strip().splitlines()
        assert line.startswith("datacrew: specs/delays_by_carrier.yaml: ") and expected in line, line
    assert output.read_bytes() == before_output
    assert CatalogStore(home.catalog_path).all() == before_catalog


def test_value_that_cannot_convert_fails_the_run_with_one_line_and_keeps_output(home, capsys):
    assert _cli(capsys, "materialize", "delays_by_carrier", "--home", str(home.root))[0] == 0
    output = home.output_path(["transformed", "delays_by_carrier"])
    before = output.read_bytes()
    write_spec(home, "delays_by_carrier", _spec(carrier_type="INTEGER"))
    code, out, err = _cli(capsys, "materialize", "delays_by_carrier", "--home", str(home.root), "--json")
    assert code == 1
    [asset] = json.loads(out)["assets"]
    assert asset["status"] == "failed" and "\n" not in asset["error"]
    assert "column 'carrier' (INTEGER): cannot convert value" in asset["error"]
    assert output.read_bytes() == before


def test_usage_errors_exit_2(home, capsys):
    code, _, err = _cli(capsys, "materialize", "no_such_thing", "--home", str(home.root))
    assert code == 2 and "'no_such_thing': no such transformation" in err
    code, _, err = _cli(capsys, "materialize", "--home", str(home.root))
    assert code == 2 and "pass --all" in err
    code, _, err = _cli(capsys, "lineage", "lake/nothing", "--home", str(home.root))
    assert code == 2 and "no such asset" in err


def test_bad_spec_launched_from_dagster_fails_in_the_crew_and_keeps_output(home, capsys):
    """The UI does not go through `validate`: the crew's compile step must refuse it too."""
    assert _cli(capsys, "materialize", "delays_by_carrier", "--home", str(home.root))[0] == 0
    output = home.output_path(["transformed", "delays_by_carrier"])
    before = output.read_bytes()
    write_spec(home, "delays_by_carrier", BAD_SPECS["copy"][0])
    result = run_assets(home, "transformed/delays_by_carrier")
    assert not result.success
    [failure] = result.get_step_failure_events()
    description = failure.event_specific_data.user_failure_data.description
    assert "\n" not in description and "COPY statement is not allowed" in description
    tools = [c["tool"] for c in failure.event_specific_data.user_failure_data.metadata["datacrew/tool_calls"].value]
    assert tools[-1] == "compile_plan" and "execute_plan" not in tools
    assert failure.event_specific_data.user_failure_data.metadata["datacrew/token_usage"].value["total_tokens"] == 0
    assert output.read_bytes() == before
