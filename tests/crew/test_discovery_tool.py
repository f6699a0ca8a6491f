"""`data_discovery`: the crew searches the catalog as `datacrew search --json` ranks it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from datacrew_assets.cli import main
from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import Home
from datacrew_resources.crew.runner import TASKS
from datacrew_resources.source_refs import build_engine
from datacrew_resources.workbench import EngineWorkbench, catalog_discovery

from .fakes import FakeWorkbench
from .small_home import small_home
from .test_hosted_llm import FLIGHTS
from .test_request_delegation import SPEC, _config


@dataclass
class CatalogWorkbench(FakeWorkbench):
    """A stand-in workbench that searches a home's catalog, as an EngineWorkbench given one does."""

    home: Home | None = None

    def discover_datasets(self, query: str, **filters: Any) -> dict[str, Any]:
        return catalog_discovery(self.home, query, **filters)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A lake of flights, carriers and delay reports, and a file share of airports, discovered."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    root = tmp_path / "home"
    config = _config()
    config["sources"].append(
        {"name": "share", "type": "file_systems", "uri": "sources/share", "owner": "team:airport-ops"}
    )
    (root / "sources" / "share").mkdir(parents=True)
    (root / "sources" / "share" / "airports.csv").write_text("faa,name\nJFK,John F Kennedy\nEWR,Newark\n")
    home = small_home(root, flights=FLIGHTS, spec=SPEC, config=config)
    lake = root / "sources" / "lake"
    (lake / "carriers.csv").write_text("carrier,name\nAA,American\nUA,United\nDL,Delta\n")
    with duckdb.connect() as con:  # a delay table with missing values: a lower quality score
        con.execute(
            "COPY (SELECT * FROM (VALUES (1, NULL), (2, 'weather'), (3, NULL)) t(flight, delay_reason))"
            " TO ? (FORMAT parquet)", [str(lake / "delay_reasons.parquet")],
        )
    discover(home, home.load_config())
    return home


@pytest.fixture
def discovery_tool(home: Home, crewai_storage):
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    trace = ToolTrace()
    return build_tools(CatalogWorkbench(home=home), trace)["data_discovery"], trace


def _cli_search(capsys, home: Home, *args: str) -> dict[str, Any]:
    assert main(["search", *args, "--home", str(home.root), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("arguments", "cli"), [
    ({"query": "flights"}, ["flights"]),
    ({"query": "carrier"}, ["carrier"]),
    ({"query": "", "max_results": 2}, ["", "--max-results", "2"]),
    ({"query": "delay", "source_types": ["data_lake"], "quality_threshold": 0.9},
     ["delay", "--source-types", "data_lake", "--quality-threshold", "0.9"]),
    ({"query": "", "data_domains": ["airport-ops"], "freshness_requirement": "last_24_hours"},
     ["", "--data-domains", "airport-ops", "--freshness-requirement", "last_24_hours"]),
])
def test_the_tool_returns_the_datasets_the_cli_search_returns(home, discovery_tool, capsys, arguments, cli):
    tool, trace = discovery_tool
    answer = json.loads(tool.run(**arguments))
    printed = _cli_search(capsys, home, *cli)

    assert [(d["asset_key"], d["relevance_score"]) for d in answer["datasets"]] == [
        (r["asset_key"], r["relevance_score"]) for r in printed["results"]
    ]
    # The freshness part of the score moves with the clock between the two searches.
    assert [d["composite_score"] for d in answer["datasets"]] == pytest.approx(
        [r["composite_score"] for r in printed["results"]], abs=1e-6
    )
    assert answer["filters"] == printed["filters"]
    assert answer["total_datasets_found"] == printed["total_datasets_found"]
    assert answer["aggregation_metadata"] == printed["aggregation_metadata"]
    [record] = trace.records
    assert (record.tool, record.ok) == ("data_discovery", True)


def test_the_answer_describes_the_best_match(discovery_tool):
    tool, _ = discovery_tool
    answer = json.loads(tool.run(query="carrier", max_results=1))

    [best] = answer["datasets"]
    assert answer["datasets_returned"] == 1
    assert best["asset_key"] == "lake/carriers"
    assert best["source_type"] == "data_lake"
    assert best["domain"] == "flight-ops"
    assert best["record_count"] == 3
    assert best["columns"] == [{"name": "carrier", "type": "VARCHAR"}, {"name": "name", "type": "VARCHAR"}]


def test_the_tool_searches_the_catalog_without_rescanning(home, discovery_tool):
    tool, _ = discovery_tool
    before = json.loads(tool.run(query="airports"))
    (home.root / "sources" / "share" / "airports.csv").unlink()  # only a scan would notice

    after = json.loads(tool.run(query="airports"))

    assert [d["asset_key"] for d in after["datasets"]] == [d["asset_key"] for d in before["datasets"]]
    assert after["datasets"][0]["asset_key"] == "share/airports"


@pytest.mark.parametrize(("arguments", "named"), [
    ({"query": "flights", "max_results": 0}, "max_results: 0: must be a whole number of at least 1"),
    ({"query": "flights", "source_types": ["tape"]}, "source_types: 'tape'"),
    ({"query": "flights", "freshness_requirement": "yesterday"}, "freshness_requirement: 'yesterday'"),
])
def test_bad_filters_are_one_line_errors(discovery_tool, arguments, named):
    tool, trace = discovery_tool
    answer = tool.run(**arguments).as_agent_message()

    assert answer.startswith(f"ERROR: {named}") and "\n" not in answer
    assert not trace.records[-1].ok


def test_the_schema_is_the_tutorials_discovery_input(discovery_tool):
    from crewai.utilities.agent_utils import convert_tools_to_openai_schema

    tool, _ = discovery_tool
    [schema], _, _ = convert_tools_to_openai_schema([tool])
    assert set(schema["function"]["parameters"]["properties"]) == {
        "query", "max_results", "source_types", "quality_threshold", "data_domains", "freshness_requirement",
    }


def test_offered_to_the_planner_only_over_a_workbench_with_a_catalog(home, crewai_storage):
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    config = home.load_config()
    specs = home.load_specs(config)
    [loaded] = specs
    engine = build_engine(home, config, specs)

    def workbench(**catalog: Any) -> EngineWorkbench:
        return EngineWorkbench(engine, loaded.spec, output_path=None, spec_file="specs/x.yaml", **catalog)

    assert "data_discovery" in build_tools(workbench(catalog=home), ToolTrace())
    assert "data_discovery" not in build_tools(workbench(), ToolTrace())
    assert "data_discovery" not in build_tools(FakeWorkbench(), ToolTrace())
    assert [name for name, (_, tools) in TASKS.items() if "data_discovery" in tools] == [
        "plan_transformation", "plan_sql_transformation",
    ]
    answer = workbench(catalog=home).discover_datasets("flights", max_results=1)
    assert [d["asset_key"] for d in answer["datasets"]] == ["lake/flights"]


def test_the_yaml_names_the_tool_for_the_discovery_specialist():
    from datacrew_resources.crew.runner import CONFIG_DIR

    agents = yaml.safe_load((CONFIG_DIR / "agents.yaml").read_text())
    assert "data_discovery" in agents["discovery_specialist"]["backstory"]
