from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord
from datacrew_resources.catalog.ranking import SearchFilters, rank_records
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


def saturated(tf: float) -> float:
    """BM25's term-frequency saturation, k1 = 1.2."""
    return tf * 2.2 / (1.2 + tf)


def test_composite_score_follows_the_formula():
    hits = rank_records(ALL, "carrier delay", now=NOW).hits

    assert [h.record.dataset_name for h in hits] == ["airlines", "flights", "delays"]
    airlines, flights, delays = hits
    # BM25F: carrier and delay are each in 2 of the 4 datasets (same idf, which cancels out
    # in the normalisation). Column tokens per dataset: 1, 1, 3 (carrier, dep, delay), 2, so
    # the mean column length is 1.75; every name is 1 token. Columns weigh 2, names 3, b = 0.75.
    flights_raw = 2 * saturated(2 / (0.25 + 0.75 * 3 / 1.75))  # carrier and delay, both columns
    airlines_raw = saturated(2 / (0.25 + 0.75 * 2 / 1.75))  # carrier, a column
    delays_raw = saturated(3 / (0.25 + 0.75 * 1 / 1))  # delay, its name ("carrierid" is one token)
    assert flights.relevance == pytest.approx(1.0)  # the best match
    assert airlines.relevance == pytest.approx(airlines_raw / flights_raw)
    assert airlines.relevance == pytest.approx(0.577253, abs=1e-6)
    assert delays.relevance == pytest.approx(delays_raw / flights_raw)
    assert delays.relevance == pytest.approx(0.686224, abs=1e-6)
    # described dataset + 1 of 2 columns described -> schema 0.5 + 0.25; fresh; warehouse 1.4
    assert (airlines.freshness, airlines.schema_completeness) == (1.0, 0.75)
    assert airlines.score == pytest.approx((0.9 * 0.5 + airlines.relevance * 0.3 + 1.0 * 0.1 + 0.75 * 0.1) * 1.4)
    # 30 days = one half-life; lake 1.2
    assert (flights.freshness, flights.schema_completeness) == (0.5, 0.0)
    assert flights.score == pytest.approx((0.8 * 0.5 + 1.0 * 0.3 + 0.5 * 0.1) * 1.2)
    # unknown quality counts 0; updated in the future -> fresh; file systems 0.8
    assert (delays.quality, delays.freshness) == (0.0, 1.0)
    assert delays.score == pytest.approx((delays.relevance * 0.3 + 1.0 * 0.1) * 0.8)
    assert delays.source_weight == 0.8


def test_irrelevant_datasets_are_left_out_and_max_results_applies():
    response = rank_records(ALL, "carrier delay", now=NOW)
    assert response.total_datasets_found == 3
    limited = rank_records(ALL, "carrier delay", SearchFilters(max_results=2), now=NOW)
    assert [h.record.dataset_name for h in limited.hits] == ["airlines", "flights"]
    assert limited.total_datasets_found == 3
    assert rank_records(ALL, "passengers", now=NOW).hits == []


def test_plural_and_case_do_not_matter():
    (hit,) = rank_records(ALL, "AIRLINE", now=NOW).hits
    assert hit.record.dataset_name == "airlines" and hit.relevance == 1.0


def test_empty_query_ranks_everything_without_relevance():
    hits = rank_records(ALL, "", now=NOW).hits

    assert {h.relevance for h in hits} == {0.0}
    weather = next(h for h in hits if h.record.dataset_name == "weather")
    assert weather.score == pytest.approx((1.0 * 0.5 + 1.0 * 0.1) * 1.3)
    assert [h.record.dataset_name for h in hits] == ["airlines", "weather", "flights", "delays"]
