"""Ranked search: the tutorial's filters, aggregation metadata and the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from datacrew_resources.catalog import search as search_module
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord
from datacrew_resources.catalog.ranking import SearchFilters, rank_records
from datacrew_resources.catalog.search import search
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceType

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def record(name, source_type, *, owner, quality, age_hours, columns):
    return DatasetRecord(
        source=source_type.value.split("_")[-1],
        source_type=source_type,
        dataset_name=name,
        format="parquet",
        location=f"/x/{name}",
        columns=[ColumnInfo(name=c, type="VARCHAR") for c in columns],
        record_count=10,
        last_updated=NOW - timedelta(hours=age_hours),
        owner=owner,
        quality_score=quality,
    )


FLIGHTS = record("flights", SourceType.data_lake, owner="team:flight-ops", quality=0.95, age_hours=2,
                 columns=["carrier", "dep_delay"])
REPORTS = record("delay_reports", SourceType.file_systems, owner="team:flight-ops", quality=0.65, age_hours=100,
                 columns=["carrier", "delay_minutes"])
AIRLINES = record("airlines", SourceType.data_warehouse, owner="team:analytics", quality=0.99, age_hours=24 * 20,
                  columns=["carrier", "name"])
POSITIONS = record("positions", SourceType.streaming, owner="team:tracking", quality=None, age_hours=0.5,
                   columns=["carrier", "lat", "lon"])
WEATHER = record("weather", SourceType.data_warehouse, owner="team:analytics", quality=0.5, age_hours=24 * 40,
                 columns=["temp"])
CATALOG = [FLIGHTS, REPORTS, AIRLINES, POSITIONS, WEATHER]


def names(response) -> set[str]:
    return {h.record.dataset_name for h in response.hits}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"flights", "delay_reports", "airlines", "positions"}),
        ({"source_types": ("data_warehouse", SourceType.streaming)}, {"airlines", "positions"}),
        # The tutorial's threshold; unknown quality counts 0.
        ({"quality_threshold": 0.8}, {"flights", "airlines"}),
        ({"quality_threshold": 0.65}, {"flights", "airlines", "delay_reports"}),
        ({"data_domains": ("Flight-Ops",)}, {"flights", "delay_reports"}),
        ({"freshness_requirement": "last_24_hours"}, {"flights", "positions"}),
        ({"freshness_requirement": "last_7_days"}, {"flights", "positions", "delay_reports"}),
        ({"freshness_requirement": "last_30_days"}, {"flights", "positions", "delay_reports", "airlines"}),
        ({"freshness_requirement": "any"}, {"flights", "positions", "delay_reports", "airlines"}),
        ({"data_domains": ("analytics", "tracking"), "freshness_requirement": "last_7_days"}, {"positions"}),
    ],
)
def test_filters_of_the_tutorial(filters, expected):
    assert names(rank_records(CATALOG, "carrier", SearchFilters(**filters), now=NOW)) == expected


def test_freshness_windows_include_their_boundary():
    day_old = record("day_old", SourceType.data_lake, owner="team:x", quality=1.0, age_hours=24, columns=["a"])
    older = record("older", SourceType.data_lake, owner="team:x", quality=1.0, age_hours=24.001, columns=["a"])
    filters = SearchFilters(freshness_requirement="last_24_hours")
    assert names(rank_records([day_old, older], "", filters, now=NOW)) == {"day_old"}


def test_response_carries_the_tutorial_aggregation_metadata():
    response = rank_records(CATALOG, "carrier", SearchFilters(max_results=3), now=NOW)

    # positions (streaming, unknown quality) scores lowest of the four matches and is cut.
    assert [h.record.dataset_name for h in response.hits] == ["airlines", "flights", "delay_reports"]
    assert (response.query, response.total_datasets_found, response.datasets_returned) == ("carrier", 4, 3)
    assert response.domain_distribution == {"analytics": 1, "flight-ops": 2}
    assert response.source_distribution == {"data_warehouse": 1, "data_lake": 1, "file_systems": 1}
    assert response.quality_distribution == {"high": 2, "medium": 1, "low": 0}
    assert response.aggregation_metadata() == {
        "total_datasets_considered": 4,
        "domain_distribution": {"analytics": 1, "flight-ops": 2},
        "source_distribution": {"data_warehouse": 1, "data_lake": 1, "file_systems": 1},
        "quality_distribution": {"high": 2, "medium": 1, "low": 0},
        "ranking_algorithm": "composite_data_engineering_scoring",
        "weighting_applied": True,
    }
    everything = rank_records(CATALOG, "carrier", now=NOW)
    assert everything.quality_distribution == {"high": 2, "medium": 1, "low": 1}  # positions: unknown -> low
    assert everything.hits[-1].record.dataset_name == "positions"


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"max_results": 0}, "max_results: 0: must be a whole number of at least 1"),
        ({"max_results": 2.5}, "max_results: 2.5: must be a whole number of at least 1"),
        ({"source_types": ("lake",)}, "source_types: 'lake': unknown source type (known: data_lake, data_warehouse,"
                                      " streaming, api_endpoints, file_systems)"),
        ({"quality_threshold": 1.5}, "quality_threshold: 1.5: must be a number from 0 to 1"),
        ({"quality_threshold": -0.1}, "quality_threshold: -0.1: must be a number from 0 to 1"),
        ({"data_domains": (" ",)}, "data_domains: ' ': must be a non-empty domain name"),
        ({"freshness_requirement": "last_hour"}, "freshness_requirement: 'last_hour': must be one of last_24_hours,"
                                                 " last_7_days, last_30_days, any"),
    ],
)
def test_bad_filter_values_name_the_field_and_value(filters, message):
    with pytest.raises(ConfigError) as error:
        SearchFilters(**filters)
    assert str(error.value) == message


def write_catalog(home: Home, records: list[DatasetRecord]) -> None:
    by_source = defaultdict(list)
    for r in records:
        by_source[r.source].append(r)
    CatalogStore(home.catalog_path).replace_sources(by_source)


@pytest.fixture
def scorings(monkeypatch) -> list[str]:
    """The queries whose candidates were computed (not taken from the cache)."""
    calls = []
    real = search_module.score_candidates

    def counting(records, query):
        calls.append(query)
        return real(records, query)

    monkeypatch.setattr(search_module, "score_candidates", counting)
    return calls


def test_a_repeated_query_is_answered_from_the_cache(tmp_path, scorings):
    home = Home(tmp_path)
    write_catalog(home, CATALOG)

    first = search(home, "carrier", now=NOW)
    # Same terms (case, plural), other filters, a later clock: all from the one computation.
    again = search(home, "Carriers", quality_threshold=0.8, max_results=1, now=NOW)
    later = search(home, "carrier", now=NOW + timedelta(days=30))

    assert scorings == ["carrier"]
    assert (first.from_cache, again.from_cache, later.from_cache) == (False, True, True)
    expected = rank_records(CATALOG, "carrier", now=NOW)
    assert [(h.record, h.score) for h in first.hits] == [(h.record, h.score) for h in expected.hits]
    assert [(h.record, h.score) for h in again.hits] == [(AIRLINES, expected.hits[0].score)]
    # Filters and freshness are applied afresh: a month later flights is one half-life older.
    flights_then = next(h for h in first.hits if h.record == FLIGHTS)
    flights_later = next(h for h in later.hits if h.record == FLIGHTS)
    assert flights_later.freshness == pytest.approx(flights_then.freshness / 2)

    assert not search(home, "delay", now=NOW).from_cache
    assert scorings == ["carrier", "delay"]


def test_a_discovery_write_invalidates_the_cache(tmp_path, write_parquet, lake_source, scorings):
    home = Home(tmp_path)
    config = PlatformConfig(sources=[lake_source])
    write_parquet(tmp_path / "lake" / "sales.parquet", mtime=1_700_000_000)
    discover(home, config)

    assert [h.record.key_string for h in search(home, "amount").hits] == ["lake/sales"]
    assert search(home, "amount").from_cache
    # A rescan that finds the same records leaves the catalog as it was: the cache holds.
    discover(home, config)
    assert search(home, "amount").from_cache
    assert scorings == ["amount"]

    write_parquet(tmp_path / "lake" / "refunds.parquet", mtime=1_700_000_000)
    discover(home, config)
    response = search(home, "amount")

    assert not response.from_cache and scorings == ["amount", "amount"]
    assert sorted(h.record.key_string for h in response.hits) == ["lake/refunds", "lake/sales"]


WRITE_FROM_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from datacrew_resources.catalog.store import CatalogStore
store = CatalogStore(Path(sys.argv[1]))
[airlines] = [r for r in store.all() if r.dataset_name == "airlines"]
store.replace_sources({"warehouse": [airlines.model_copy(update={"quality_score": 0.1})]})
"""

SEARCH_FROM_ANOTHER_PROCESS = """
import json, sys
from pathlib import Path
from datacrew_resources.catalog.search import search
from datacrew_resources.config import Home
response = search(Home(Path(sys.argv[1])), "carrier")
print(json.dumps({"from_cache": response.from_cache, "airlines": [h.quality for h in response.hits
                  if h.record.dataset_name == "airlines"]}))
"""


def run_python(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_cache_is_shared_and_invalidated_across_processes(tmp_path):
    home = Home(tmp_path)
    write_catalog(home, CATALOG)

    first, second = (json.loads(run_python(SEARCH_FROM_ANOTHER_PROCESS, str(tmp_path))) for _ in range(2))
    assert (first, second) == ({"from_cache": False, "airlines": [0.99]}, {"from_cache": True, "airlines": [0.99]})
    assert search(home, "carrier").from_cache

    run_python(WRITE_FROM_ANOTHER_PROCESS, str(home.catalog_path))
    response = search(home, "carrier")

    assert not response.from_cache
    assert [h.quality for h in response.hits if h.record.dataset_name == "airlines"] == [0.1]


def test_an_empty_or_missing_catalog_finds_nothing(tmp_path):
    response = search(Home(tmp_path), "carrier")
    assert (response.hits, response.total_datasets_found) == ([], 0)
    assert response.quality_distribution == {"high": 0, "medium": 0, "low": 0}


def test_filters_are_normalised():
    filters = SearchFilters(source_types="streaming", quality_threshold=1, data_domains=[" Flight-Ops ", "flight-ops"],
                            freshness_requirement=None)
    assert filters.to_json() == {
        "max_results": 10,
        "source_types": ["streaming"],
        "quality_threshold": 1.0,
        "data_domains": ["flight-ops"],
        "freshness_requirement": "any",
    }
