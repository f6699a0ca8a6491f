"""`datacrew search`: the tutorial's options, its JSON response, and one-line errors for bad values."""

from __future__ import annotations

import json

import pytest

from datacrew_assets.cli import main
from datacrew_resources.config import Home

from .test_search import CATALOG, write_catalog


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = Home(tmp_path)
    home.config_path.write_text("sources: []\n")
    write_catalog(home, CATALOG)
    return home


def cli(capsys, home: Home, *args: str) -> tuple[int, str, str]:
    code = main(["search", *args, "--home", str(home.root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_response_with_filters_and_aggregation_metadata(home, capsys):
    code, out, err = cli(
        capsys, home, "carrier", "--json", "--max-results", "2", "--source-types", "data_lake,data_warehouse",
        "--source-types", "file_systems", "--quality-threshold", "0.6", "--data-domains", "flight-ops,analytics",
    )

    assert code == 0, err
    response = json.loads(out)
    assert response["query"] == "carrier"
    assert response["filters"] == {
        "max_results": 2,
        "source_types": ["data_lake", "data_warehouse", "file_systems"],
        "quality_threshold": 0.6,
        "data_domains": ["flight-ops", "analytics"],
        "freshness_requirement": "any",
    }
    assert (response["total_datasets_found"], response["datasets_returned"], response["from_cache"]) == (3, 2, False)
    assert [r["asset_key"] for r in response["results"]] == ["warehouse/airlines", "lake/flights"]
    airlines = response["results"][0]
    assert airlines["domain"] == "analytics" and airlines["quality_score"] == 0.99 and airlines["source_weight"] == 1.4
    assert set(airlines) >= {"dataset_name", "schema", "last_updated", "composite_score", "relevance_score",
                             "freshness_score", "schema_completeness"}
    assert response["aggregation_metadata"]["domain_distribution"] == {"analytics": 1, "flight-ops": 1}
    assert response["aggregation_metadata"]["source_distribution"] == {"data_warehouse": 1, "data_lake": 1}
    assert response["aggregation_metadata"]["quality_distribution"] == {"high": 2, "medium": 0, "low": 0}
    assert response["aggregation_metadata"]["total_datasets_considered"] == 3


def test_text_output_and_the_cache_across_runs(home, capsys):
    code, first, _ = cli(capsys, home, "carrier", "--limit", "1")
    code_again, again, _ = cli(capsys, home, "carrier", "--limit", "1")

    assert (code, code_again) == (0, 0)
    assert first.splitlines()[0].split()[1] == "warehouse/airlines"  # scores depend on the clock
    assert first.splitlines()[1].startswith("1 of 4 found; domains: analytics 1; sources: data_warehouse 1;")
    assert again.splitlines()[1].startswith("1 of 4 found (cached);")
    assert cli(capsys, home, "zeppelin")[1] == "no match\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-results", "0"], "--max-results: 0: must be a whole number of at least 1"),
        (["--limit", "ten"], "--max-results: 'ten': must be a whole number"),
        (["--quality-threshold", "high"], "--quality-threshold: 'high': must be a number"),
        (["--quality-threshold", "1.2"], "--quality-threshold: 1.2: must be a number from 0 to 1"),
        (["--source-types", "data_lake,kafka"], "--source-types: 'kafka': unknown source type (known: data_lake,"
                                                " data_warehouse, streaming, api_endpoints, file_systems)"),
        (["--data-domains", "sales,"], "--data-domains: '': must be a non-empty domain name"),
        (["--freshness-requirement", "today"], "--freshness-requirement: 'today': must be one of last_24_hours,"
                                               " last_7_days, last_30_days, any"),
    ],
)
def test_bad_values_are_one_line_naming_the_option_exit_2(home, capsys, args, message):
    code, out, err = cli(capsys, home, "carrier", *args)
    assert (code, out, err) == (2, "", f"datacrew: {message}\n")
