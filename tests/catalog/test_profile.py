"""Dataset profiles (footers, one aggregate pass, pg_stats) and the quality score they feed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from datacrew_resources.catalog.datafiles import hive_types
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.models import DatasetRecord
from datacrew_resources.catalog.pii import Blocks, screen, strings
from datacrew_resources.catalog.postgres import scan_postgres
from datacrew_resources.catalog.profile import SampleCounts, estimate_distinct, sample_counts
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home, PlatformConfig, SourceConfig, SourceType
from datacrew_resources.config.datasets import DatasetsConfig


def lake(uri: str = "lake") -> SourceConfig:
    return SourceConfig(name="lake", type=SourceType.data_lake, uri=uri, owner="team:lake")


def records(home: Home) -> dict[str, DatasetRecord]:
    return {r.dataset_name: r for r in CatalogStore(home.catalog_path).all()}


def write_orders(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "order_id": pa.array([1, 2, 3, 4], pa.int64()),
        "status": pa.array(["new", "paid", "paid", None]),
        "amount": pa.array([5.0, None, 12.5, 40.0]),
        "email": pa.array(["a@x.org", "b@x.org", "c@x.org", "d@x.org"]),
        "at": pa.array([datetime(2024, 1, d, tzinfo=UTC) for d in (1, 2, 3, 4)], pa.timestamp("us", tz="UTC")),
    }), path)


def test_parquet_profile_from_the_footer_and_the_sample(tmp_path):
    write_orders(tmp_path / "lake" / "orders.parquet")
    home = Home(tmp_path)
    discover(home, PlatformConfig(sources=[lake()]))

    profile = records(home)["orders"].profile
    assert (profile.basis, profile.rows) == ("footer", 4)
    columns = {c.name: c for c in profile.columns}
    assert (columns["status"].null_count, columns["status"].null_rate) == (1, 0.25)
    assert (columns["amount"].min, columns["amount"].max) == (5.0, 40.0)
    assert (columns["at"].min, columns["at"].max) == ("2024-01-01T00:00:00+00:00", "2024-01-04T00:00:00+00:00")
    # pyarrow writes no distinct counts: the PII sample (every row here) counts them.
    assert (columns["order_id"].distinct, columns["order_id"].distinct_basis) == (4, "sample")
    assert (columns["status"].distinct, columns["status"].distinct_basis) == (2, "sample")
    assert columns["amount"].distinct is None  # a DOUBLE column is not sampled
    # The email column holds PII: its extremes are not kept in the catalog.
    assert (columns["email"].min, columns["email"].max, columns["email"].null_count) == (None, None, 0)
    # No rules and no key: the score is completeness alone (2 nulls in 20 cells).
    assert (profile.completeness, profile.validity, profile.key_uniqueness) == (0.9, None, None)
    assert records(home)["orders"].quality_score == 0.9


def test_score_is_the_mean_of_completeness_validity_and_key_uniqueness(tmp_path):
    write_orders(tmp_path / "lake" / "orders.parquet")
    home = Home(tmp_path)
    datasets = DatasetsConfig.model_validate({"lake/orders": {
        "primary_key": ["order_id"],
        "columns": {
            "amount": {"min": 0, "max": 100},  # 5.0 .. 40.0: met
            "status": {"accepted_values": ["new", "shipped"]},  # max `paid`: broken
            "order_id": {"references": "lake/orders.order_id"},  # no value rule: not judged
        },
    }})
    discover(home, PlatformConfig(sources=[lake()], datasets=datasets))

    record = records(home)["orders"]
    assert (record.profile.completeness, record.profile.validity, record.profile.key_uniqueness) == (0.9, 0.5, 1.0)
    assert record.quality_score == round((0.9 + 0.5 + 1.0) / 3, 4)


def test_an_unchanged_rescan_keeps_every_record_byte_identical(tmp_path):
    write_orders(tmp_path / "lake" / "orders.parquet")
    write_orders(tmp_path / "lake" / "events" / "day=2024-01-01" / "part-0.parquet")
    (tmp_path / "lake" / "cities.csv").write_text("city,population\nParis,2100000\nLyon,520000\nParis,\n")
    home = Home(tmp_path)
    config = PlatformConfig(sources=[lake()])
    discover(home, config)
    store = CatalogStore(home.catalog_path)
    first = {r.key_string: r.model_dump_json() for r in store.all()}

    discover(home, config)

    assert {r.key_string: r.model_dump_json() for r in store.all()} == first
    assert [len(store.history(key)) for key in sorted(first)] == [1, 1, 1]


def test_csv_profile_from_one_aggregate_pass(tmp_path):
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "cities.csv").write_text("city,population\nParis,2100000\nLyon,520000\nParis,\n")
    home = Home(tmp_path)
    discover(home, PlatformConfig(sources=[lake()]))

    profile = records(home)["cities"].profile
    assert (profile.basis, profile.rows) == ("scan", 3)
    city, population = profile.columns
    assert (city.distinct, city.distinct_basis, city.min, city.max, city.null_count) == (2, "scan", "Lyon", "Paris", 0)
    assert (population.min, population.max, population.null_count, population.null_rate) == (520000, 2100000, 1, 0.3333)


def test_hive_keys_typed_without_describe_match_duckdb(tmp_path, lake_source):
    cases = {
        "int_key": ["1", "20", "-3"],
        "date_key": ["2024-01-01", "2024-02-29"],
        "text_key": ["eu", "us_west"],
        "mixed_key": ["1", "2024-01-01"],  # BIGINT and DATE disagree: VARCHAR
    }
    for key, values in cases.items():
        for value in values:
            path = tmp_path / "lake" / key / f"{key}={value}" / "part-0.parquet"
            path.parent.mkdir(parents=True)
            pq.write_table(pa.table({"v": [1]}), path)
    home = Home(tmp_path)
    discover(home, PlatformConfig(sources=[lake_source]))

    found = records(home)
    with duckdb.connect() as con:
        for key in cases:
            described = con.execute(
                f"DESCRIBE SELECT * FROM read_parquet('{tmp_path}/lake/{key}/**/*.parquet', hive_partitioning = true)"
            ).fetchall()
            assert [(c.name, c.type) for c in found[key].columns] == [(row[0], row[1]) for row in described]
    assert hive_types({"k": ["1", "20"]}) == {"k": "BIGINT"}
    assert found["date_key"].profile.column("date_key").max == "2024-02-29"
    assert found["int_key"].profile.column("int_key").min == -3
    # Values whose type the mirror does not decide for certain leave it to DuckDB.
    for uncertain in ("2024-01-01 10:00:00", "NULL", "infinity", "1e3", "a%20b", "2024-02-30"):
        assert hive_types({"k": [uncertain]}) is None


def test_duckdb_tables_are_profiled_in_one_pass_with_the_declared_key(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE carriers (code VARCHAR PRIMARY KEY, name VARCHAR, fleet INTEGER)")
        con.execute("INSERT INTO carriers VALUES ('AA', 'American', 900), ('UA', NULL, 800), ('DL', 'Delta', NULL)")
    home = Home(tmp_path)
    source = SourceConfig(name="warehouse", type=SourceType.data_warehouse, uri=str(database), owner="team:ops")
    datasets = DatasetsConfig.model_validate({"warehouse/carriers": {"columns": {"fleet": {"min": 0}}}})
    discover(home, PlatformConfig(sources=[source], datasets=datasets))

    record = records(home)["carriers"]
    code, name, fleet = record.profile.columns
    assert record.profile.basis == "scan"
    assert (code.distinct, code.distinct_basis, code.min, code.max) == (3, "scan", "AA", "UA")
    assert (name.null_count, fleet.min, fleet.max) == (1, 800, 900)
    assert (record.profile.completeness, record.profile.validity, record.profile.key_uniqueness) == (0.7778, 1.0, 1.0)
    assert record.quality_score == round((0.7778 + 1 + 1) / 3, 4)


def test_postgres_profile_comes_from_pg_stats(postgres_server):
    schema = f"t{uuid.uuid4().hex}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        con.execute(sql.SQL("CREATE TABLE {}.trips (id integer PRIMARY KEY, city text, km numeric(6,1), day date)")
                    .format(sql.Identifier(schema)))
        con.execute(sql.SQL("INSERT INTO {}.trips SELECT i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'c' || (i % 3) END,"
                            " i / 2.0, date '2024-01-01' + i FROM generate_series(1, 200) AS i")
                    .format(sql.Identifier(schema)))
        con.execute(sql.SQL("ANALYZE {}.trips").format(sql.Identifier(schema)))
    try:
        source = SourceConfig(name="pg", type=SourceType.data_warehouse, uri=postgres_server,
                              owner="team:ops", options={"schemas": [schema]})
        [record] = scan_postgres(source, postgres_server, {})
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as con:
            con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))

    profile = record.profile
    assert (profile.basis, profile.rows) == ("statistics", 200)
    trip_id, city, km, day = profile.columns
    assert (trip_id.distinct, trip_id.distinct_basis, trip_id.min, trip_id.max) == (200, "statistics", 1, 200)
    assert (city.null_count, city.null_rate, city.distinct) == (50, 0.25, 3)
    assert (km.min, km.max) == (0.5, 100.0)
    assert (day.min, day.max) == (str(date(2024, 1, 2)), str(date(2024, 1, 1) + timedelta(days=200)))
    # The connector's score is completeness; discovery's governance adds the key's uniqueness.
    assert record.quality_score == round(1 - 50 / 800, 4)


def test_distinct_estimate_from_a_sample():
    assert estimate_distinct(SampleCounts(n=100, d=100, f1=100), 10_000) == 10_000  # all distinct: a key
    assert estimate_distinct(SampleCounts(n=100, d=5, f1=0), 10_000) == 5  # no singletons: all seen
    assert estimate_distinct(SampleCounts(n=100, d=60, f1=30), 100) == 60  # the sample is every row
    assert 60 < estimate_distinct(SampleCounts(n=100, d=60, f1=30), 10_000) < 10_000


def test_sample_figures_are_computed_for_many_samples_at_once():
    samples = [strings([]), strings(["a@x.org", "b", "a@x.org"]), strings(["123 456 789", "z", "z", " "])]
    blocks = Blocks(samples)
    assert sample_counts(blocks) == [SampleCounts(0, 0, 0), SampleCounts(3, 2, 1), SampleCounts(4, 3, 2)]
    assert [(s.present, s.at, s.numeric) for s in screen(blocks)] == [(0, 0, 0), (3, 2, 0), (3, 0, 1)]


@pytest.mark.parametrize(
    "value", ["", "NULL", "01", "+5", "-5", "0", "infinity", "Inf", "abc", "A1", "2024-1-1", "1_000"]
)
def test_hive_types_decide_only_what_duckdb_agrees_with(tmp_path, value):
    decided = hive_types({"k": [value]})
    if decided is None:
        return
    path = tmp_path / "t" / f"k={value}" / "p.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"v": [1]}), path)
    with duckdb.connect() as con:
        described = con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = true)", [f"{tmp_path}/t/**/*.parquet"]
        ).fetchall()
    assert (described[-1][0], described[-1][1]) == ("k", decided["k"])
