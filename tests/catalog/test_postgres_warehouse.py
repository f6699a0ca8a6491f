"""The PostgreSQL warehouse connector against the server on this machine (database `test`).

Each test builds its tables in a fresh schema (`postgres_server` from tests/conftest.py
fails, never skips, when no server answers) and drops it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from datacrew_assets.discovered import discovered_asset_specs
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.models import ColumnInfo
from datacrew_resources.catalog.postgres import duckdb_type, scan_postgres
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType

TABLES = """
CREATE SCHEMA {s};
CREATE TABLE {s}.customers (
    id integer PRIMARY KEY,
    email text NOT NULL,
    name varchar(40),
    balance numeric(10, 2),
    tags text[],
    created timestamptz
);
COMMENT ON TABLE {s}.customers IS 'Who buys';
COMMENT ON COLUMN {s}.customers.email IS 'Login address';
CREATE TABLE {s}.orders (
    id bigint PRIMARY KEY,
    customer_id integer REFERENCES {s}.customers (id),
    placed date NOT NULL,
    payload jsonb
);
CREATE TABLE {s}.order_lines (
    order_id bigint REFERENCES {s}.orders (id),
    line_no smallint,
    qty double precision,
    PRIMARY KEY (order_id, line_no)
);
CREATE VIEW {s}.big_customers AS SELECT id, email FROM {s}.customers WHERE balance > 10;
INSERT INTO {s}.customers VALUES
    (1, 'a@x.org', 'Ann', 12.50, '{{vip}}', '2026-11-01T10:00:00Z'),
    (2, 'b@x.org', NULL, 3.00, '{{}}', '2026-11-02T10:00:00Z'),
    (3, 'c@x.org', 'Cy', 40.00, '{{new,vip}}', '2026-11-03T10:00:00Z');
INSERT INTO {s}.orders VALUES (10, 1, '2026-11-05', '{{"via": "web"}}'), (11, 3, '2026-11-06', NULL);
INSERT INTO {s}.order_lines VALUES (10, 1, 2), (10, 2, NULL), (11, 1, 1), (11, 2, 5);
ANALYZE {s}.customers;
SELECT pg_stat_force_next_flush();  -- the insert counters are visible to the next connection
"""


@pytest.fixture
def schema(postgres_server: str) -> Iterator[str]:
    """A fresh schema holding TABLES (only customers analysed); dropped afterwards."""
    name = f"t{uuid.uuid4().hex}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(TABLES.replace("{s}", name).replace("{{", "{").replace("}}", "}"))
    yield name
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def source(uri: str, **options) -> SourceConfig:
    return SourceConfig(name="pg", type=SourceType.data_warehouse, uri=uri, owner="team:sales", options=options)


def host_location(uri: str) -> str:
    """postgresql://user@host:port/db -> postgresql://host:port/db"""
    scheme, rest = uri.split("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def relation_size(url: str, schema: str, table: str) -> int:
    with psycopg.connect(url) as con:
        return con.execute("SELECT pg_total_relation_size(%s::regclass)", (f"{schema}.{table}",)).fetchone()[0]


def test_tables_and_views_with_types_keys_counts_and_scores(postgres_server, schema):
    before = datetime.now(UTC)
    records = scan_postgres(source(postgres_server, schemas=[schema]), postgres_server, {})
    after = datetime.now(UTC)

    by_name = {r.dataset_name: r for r in records}
    assert [r.dataset_name for r in records] == [
        f"{schema}_big_customers", f"{schema}_customers", f"{schema}_order_lines", f"{schema}_orders",
    ]
    customers = by_name[f"{schema}_customers"]
    assert (customers.source, customers.source_type) == ("pg", SourceType.data_warehouse)
    assert customers.format == "postgres_table"
    assert (customers.location, customers.table) == (host_location(postgres_server), f"{schema}.customers")
    assert (customers.description, customers.owner) == ("Who buys", "team:sales")
    assert customers.columns == [
        ColumnInfo(name="id", type="INTEGER", nullable=False),
        ColumnInfo(name="email", type="VARCHAR", nullable=False, description="Login address"),
        ColumnInfo(name="name", type="VARCHAR"),
        ColumnInfo(name="balance", type="DECIMAL(10,2)"),
        ColumnInfo(name="tags", type="VARCHAR[]"),
        ColumnInfo(name="created", type="TIMESTAMP WITH TIME ZONE"),
    ]
    assert customers.primary_key == ["id"]
    # Analysed: counted by reltuples, scored from pg_stats (1 null of 18 cells).
    assert (customers.record_count, customers.quality_score) == (3, 0.9444)
    assert customers.size_bytes == relation_size(postgres_server, schema, "customers")
    assert before <= customers.last_updated <= after
    assert customers.change_marker == "3"  # three rows inserted

    orders = by_name[f"{schema}_orders"]
    assert orders.columns == [
        ColumnInfo(name="id", type="BIGINT", nullable=False),
        ColumnInfo(name="customer_id", type="INTEGER", references=f"pg/{schema}_customers.id"),
        ColumnInfo(name="placed", type="DATE", nullable=False),
        ColumnInfo(name="payload", type="JSON"),
    ]
    assert (orders.primary_key, orders.record_count, orders.quality_score) == (["id"], 2, 0.875)

    lines = by_name[f"{schema}_order_lines"]
    assert lines.columns == [
        ColumnInfo(name="order_id", type="BIGINT", nullable=False, references=f"pg/{schema}_orders.id"),
        ColumnInfo(name="line_no", type="SMALLINT", nullable=False),
        ColumnInfo(name="qty", type="DOUBLE"),
    ]
    assert (lines.primary_key, lines.record_count, lines.quality_score) == (["order_id", "line_no"], 4, 0.9167)

    view = by_name[f"{schema}_big_customers"]
    assert view.columns == [ColumnInfo(name="id", type="INTEGER"), ColumnInfo(name="email", type="VARCHAR")]
    assert (view.description, view.primary_key) == (f"PostgreSQL view {schema}.big_customers", [])
    assert (view.record_count, view.quality_score, view.size_bytes, view.change_marker) == (2, 1.0, 0, None)
    assert view.last_updated == customers.last_updated  # the table it reads


def test_tables_are_warehouse_assets_of_the_postgres_kind(postgres_server, schema):
    records = scan_postgres(source(postgres_server, schemas=[schema]), postgres_server, {})

    specs = {spec.key: spec for spec in discovered_asset_specs(records)}

    orders = specs[dg.AssetKey(["pg", f"{schema}_orders"])]
    assert orders.kinds == {"warehouse", "postgres"}
    assert orders.metadata["dagster/row_count"] == 2
    columns = orders.metadata["dagster/column_schema"].columns
    assert [c.name for c in columns] == ["id", "customer_id", "placed", "payload"]


def test_exact_row_counts_count_analysed_tables_too(postgres_server, schema):
    with psycopg.connect(postgres_server, autocommit=True) as con:
        # Statistics now lag the table: reltuples still says 3.
        con.execute(sql.SQL("INSERT INTO {} VALUES (4, 'd@x.org', NULL, NULL, NULL, NULL)").format(
            sql.Identifier(schema, "customers")))

    def customers(**options):
        records = scan_postgres(source(postgres_server, schemas=[schema], **options), postgres_server, {})
        return next(r for r in records if r.table == f"{schema}.customers")

    estimated = customers()
    assert (estimated.record_count, estimated.quality_score) == (3, 0.9444)
    exact = customers(row_counts="exact")
    assert (exact.record_count, exact.quality_score) == (4, 0.7917)  # 5 nulls of 24 cells


def test_a_rescan_keeps_last_updated_until_the_table_changes(postgres_server, schema):
    config = source(postgres_server, schemas=[schema])
    first = {r.dataset_name: r for r in scan_postgres(config, postgres_server, {})}

    second = {r.dataset_name: r for r in scan_postgres(config, postgres_server, first)}
    assert second[f"{schema}_orders"].last_updated == first[f"{schema}_orders"].last_updated

    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("DELETE FROM {} WHERE line_no = 2").format(sql.Identifier(schema, "order_lines")))
        con.execute("SELECT pg_stat_force_next_flush()")  # counters reach shared memory at the next report

    third = {r.dataset_name: r for r in scan_postgres(config, postgres_server, second)}
    assert third[f"{schema}_orders"].last_updated == first[f"{schema}_orders"].last_updated
    lines = third[f"{schema}_order_lines"]
    assert (lines.change_marker, lines.record_count) == ("6", 2)  # 4 inserted + 2 deleted
    assert lines.last_updated > second[f"{schema}_order_lines"].last_updated
    # A view is as fresh as the tables it reads.
    assert third[f"{schema}_big_customers"].last_updated == first[f"{schema}_customers"].last_updated


def test_a_view_over_tables_outside_the_scan_is_dated_to_each_scan(postgres_server, schema):
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("CREATE VIEW {} AS SELECT nspname FROM pg_namespace").format(
            sql.Identifier(schema, "namespaces")))
    config = source(postgres_server, schemas=[schema])
    first = {r.dataset_name: r for r in scan_postgres(config, postgres_server, {})}

    second = {r.dataset_name: r for r in scan_postgres(config, postgres_server, first)}

    assert second[f"{schema}_namespaces"].last_updated > first[f"{schema}_namespaces"].last_updated


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    """The uri of a fresh database (other tests' schemas come and go in `test`); dropped afterwards."""
    name = f"t{uuid.uuid4().hex}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_by_default_every_schema_but_postgres_own_is_read(database):
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("CREATE TABLE public.airports (faa text); CREATE SCHEMA ops; CREATE TABLE ops.delays (n int)")

    records = scan_postgres(source(database), database, {})

    assert [(r.dataset_name, r.table) for r in records] == [
        ("ops_delays", "ops.delays"), ("airports", "public.airports"),
    ]


@pytest.mark.parametrize(
    ("udt", "precision", "scale", "expected"),
    [
        ("numeric", 38, 4, "DECIMAL(38,4)"),
        ("numeric", 39, 0, "DOUBLE"),
        ("numeric", None, None, "DOUBLE"),
        ("_int8", None, None, "BIGINT[]"),
        ("inet", None, None, "VARCHAR"),
        ("bytea", None, None, "BLOB"),
        ("uuid", None, None, "UUID"),
        ("interval", None, None, "INTERVAL"),
    ],
)
def test_type_mapping(udt, precision, scale, expected):
    assert duckdb_type(udt, precision, scale) == expected


def test_an_unreachable_server_names_source_and_masked_uri():
    uri = "postgresql://app:s3cret@127.0.0.1:1/test"
    with pytest.raises(DiscoveryError) as info:
        scan_postgres(source(uri), uri, {})

    message = str(info.value)
    assert message.startswith("postgresql://app:***@127.0.0.1:1/test: source 'pg': cannot connect to PostgreSQL (")
    assert "s3cret" not in message and "\n" not in message


def test_a_bad_database_name_is_named(postgres_server):
    uri = postgres_server.rsplit("/", 1)[0] + "/no_such_db?password=s3cret"
    with pytest.raises(DiscoveryError) as info:
        scan_postgres(source(uri), uri, {})

    message = str(info.value)
    assert message.startswith(postgres_server.rsplit("/", 1)[0] + "/no_such_db?password=***: source 'pg':")
    assert 'database "no_such_db" does not exist' in message and "s3cret" not in message


def test_bad_credentials_are_reported_with_the_password_masked(postgres_server):
    host = postgres_server.split("@", 1)[1]
    uri = f"postgresql://nobody_here:s3cret@{host}"
    with pytest.raises(DiscoveryError) as info:
        scan_postgres(source(uri), uri, {})

    message = str(info.value)
    assert message.startswith(f"postgresql://nobody_here:***@{host}: source 'pg': cannot connect to PostgreSQL (")
    assert 'role "nobody_here" does not exist' in message and "s3cret" not in message


def test_bad_options_are_config_errors(postgres_server, schema):
    with pytest.raises(ConfigError) as info:
        scan_postgres(source(postgres_server, row_counts="guess"), postgres_server, {})
    assert str(info.value) == (
        "datacrew.yaml: sources.pg.options.row_counts: 'guess': Input should be 'statistics' or 'exact'"
    )
    with pytest.raises(DiscoveryError) as info:
        scan_postgres(source(postgres_server, schemas=[schema, "no_such_schema"]), postgres_server, {})
    assert str(info.value) == (
        f"{postgres_server}: source 'pg': options.schemas: no schema 'no_such_schema' in the database"
    )


def test_discover_writes_the_catalog_and_keeps_it_when_the_server_goes_bad(tmp_path, postgres_server, schema):
    home = Home(tmp_path)
    discover(home, PlatformConfig(sources=[source(postgres_server, schemas=[schema])]))
    store = CatalogStore(home.catalog_path)
    kept = store.all()
    assert [r.dataset_name for r in kept] == [
        f"{schema}_big_customers", f"{schema}_customers", f"{schema}_order_lines", f"{schema}_orders",
    ]

    broken = postgres_server.rsplit("/", 1)[0] + "/no_such_db"
    [error] = discover(home, PlatformConfig(sources=[source(broken, schemas=[schema])])).errors
    assert "database \"no_such_db\" does not exist" in error.message
    assert store.all() == kept
