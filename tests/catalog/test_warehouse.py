from __future__ import annotations

import duckdb
import pytest

from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.warehouse import scan_warehouse
from datacrew_resources.config import SourceConfig, SourceType


@pytest.fixture
def source() -> SourceConfig:
    return SourceConfig(name="dwh", type=SourceType.data_warehouse, uri="dwh.duckdb", owner="team:bi")


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "dwh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            """
            CREATE TABLE orders (
                region VARCHAR, order_id INTEGER, amount DECIMAL(10, 2),
                placed_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (region, order_id)
            );
            INSERT INTO orders VALUES
                ('eu', 1, 10.5, '2024-01-01 00:00:00+00'),
                ('eu', 2, NULL, '2024-01-02 00:00:00+00'),
                ('us', 1, 7, '2024-01-03 00:00:00+00');
            COMMENT ON TABLE orders IS 'Customer orders';
            COMMENT ON COLUMN orders.amount IS 'Order total in EUR';
            CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 8;
            CREATE SCHEMA staging;
            CREATE TABLE staging.orders (raw VARCHAR);
            """
        )
    return path


def test_tables_and_views_with_exact_counts_types_and_keys(database, source):
    records = {r.dataset_name: r for r in scan_warehouse(source, database)}

    assert sorted(records) == ["big_orders", "orders", "staging_orders"]
    orders = records["orders"]
    assert orders.format == "duckdb_table"
    assert orders.location == str(database.resolve())
    assert orders.table == "main.orders"
    assert orders.record_count == 3
    assert orders.primary_key == ["region", "order_id"]
    assert orders.description == "Customer orders"
    assert orders.owner == "team:bi"
    assert [(c.name, c.type, c.nullable) for c in orders.columns] == [
        ("region", "VARCHAR", False),
        ("order_id", "INTEGER", False),
        ("amount", "DECIMAL(10,2)", True),
        ("placed_at", "TIMESTAMP WITH TIME ZONE", False),
    ]
    assert orders.columns[2].description == "Order total in EUR"
    assert orders.quality_score == round(11 / 12, 4)  # scores are rounded to 4 places

    assert records["big_orders"].record_count == 1
    assert records["big_orders"].primary_key == []
    assert records["staging_orders"].table == "staging.orders"
    assert records["staging_orders"].record_count == 0
    assert records["staging_orders"].quality_score is None


def test_database_is_opened_read_only(database, source):
    before = database.read_bytes()
    scan_warehouse(source, database)
    assert database.read_bytes() == before


def test_unreadable_database_names_the_file(tmp_path, source):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"not a database at all" * 100)

    with pytest.raises(DiscoveryError) as info:
        scan_warehouse(source, bad)

    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_tables_that_map_to_one_dataset_name_are_refused_naming_both(tmp_path, source):
    path = tmp_path / "dwh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE sales_orders (id INTEGER); CREATE SCHEMA sales; CREATE TABLE sales.orders (id INTEGER)")

    with pytest.raises(DiscoveryError) as info:
        scan_warehouse(source, path)

    message = str(info.value)
    assert "\n" not in message
    assert str(path.resolve()) in message and "source 'dwh'" in message
    assert "'sales_orders' is used twice (main.sales_orders and sales.orders)" in message


def test_table_without_a_usable_name_is_a_discovery_error(tmp_path, source):
    path = tmp_path / "dwh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute('CREATE TABLE "--" (id INTEGER)')

    with pytest.raises(DiscoveryError) as info:
        scan_warehouse(source, path)

    message = str(info.value)
    assert "\n" not in message
    assert str(path.resolve()) in message and "source 'dwh'" in message and "'--'" in message
