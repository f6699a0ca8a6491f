from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord
from datacrew_resources.catalog.ranking import search
from datacrew_resources.config import SourceType

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def record(source_type, name, columns, *, quality, age_days, description="", column_descriptions=None):
    column_descriptions = column_descriptions or {}
    return DatasetRecord(
        source=source_type.value,
        source_type=source_type,
        dataset_name=name,
        description=description,
        format="parquet",
        location=f"/x/{name}",
        columns=[ColumnInfo(name=c, type="VARCHAR", description=column_descriptions.get(c, "")) for c in columns],
        record_count=1,
        last_updated=NOW - timedelta(days=age_days),
        quality_score=quality,
    )


AIRLINES = record(
    SourceType.data_warehouse,
    "airlines",
    ["carrier", "name"],
    quality=0.9,
    age_days=0,
    description="Airline names",
    column_descriptions={"carrier": "code"},
)
FLIGHTS = record(SourceType.data_lake, "flights", ["carrier", "dep_delay"], quality=0.8, age_days=30)
DELAYS = record(SourceType.file_systems, "delays", ["carrierid"], quality=None, age_days=-1)
WEATHER = record(SourceType.streaming, "weather", ["temp"], quality=1.0, age_days=0)
ALL = [WEATHER, DELAYS, FLIGHTS, AIRLINES]


def test_composite_score_follows_the_formula():
    hits = search(ALL, "carrier delay", limit=10, now=NOW)

    assert [h.record.dataset_name for h in hits] == ["airlines", "flights", "delays"]
    airlines, flights, delays = hits
    # airlines: carrier is a column (0.8), delay matches nothing -> relevance 0.4;
    # described dataset + 1 of 2 columns described -> schema 0.5 + 0.25; fresh; warehouse 1.4
    assert (airlines.relevance, airlines.freshness, airlines.schema_completeness) == (0.4, 1.0, 0.75)
    assert airlines.score == pytest.approx((0.9 * 0.5 + 0.4 * 0.3 + 1.0 * 0.1 + 0.75 * 0.1) * 1.4)
    # flights: both terms are column tokens (dep_delay -> dep, delay); 30 days = one half-life; lake 1.2
    assert (flights.relevance, flights.freshness, flights.schema_completeness) == (0.8, 0.5, 0.0)
    assert flights.score == pytest.approx((0.8 * 0.5 + 0.8 * 0.3 + 0.5 * 0.1) * 1.2)
    # delays: name match (1.0) + prefix of column carrierid (0.8 / 2); unknown quality counts 0;
    # updated in the future -> fresh; file systems 0.8
    assert (delays.quality, delays.relevance, delays.freshness) == (0.0, 0.7, 1.0)
    assert delays.score == pytest.approx((0.7 * 0.3 + 1.0 * 0.1) * 0.8)
    assert delays.source_weight == 0.8


def test_irrelevant_datasets_are_left_out_and_limit_applies():
    assert [h.record.dataset_name for h in search(ALL, "carrier delay", limit=2, now=NOW)] == ["airlines", "flights"]
    assert search(ALL, "passengers", limit=10, now=NOW) == []


def test_plural_and_case_do_not_matter():
    (hit,) = search(ALL, "AIRLINE", limit=10, now=NOW)
    assert hit.record.dataset_name == "airlines" and hit.relevance == 1.0


def test_empty_query_ranks_everything_without_relevance():
    hits = search(ALL, "", limit=10, now=NOW)

    assert {h.relevance for h in hits} == {0.0}
    weather = next(h for h in hits if h.record.dataset_name == "weather")
    assert weather.score == pytest.approx((1.0 * 0.5 + 1.0 * 0.1) * 1.3)
    assert [h.record.dataset_name for h in hits] == ["airlines", "weather", "flights", "delays"]
