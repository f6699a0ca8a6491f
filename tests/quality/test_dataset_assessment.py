"""One discovered dataset assessed without Dagster: hand-counted figures, schema drift, bad reads."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
import yaml

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home, PlatformConfig
from datacrew_resources.config.datasets import dataset_settings
from datacrew_resources.quality.dataset import DATASET_CHECKS, assess_dataset, declared_checks
from datacrew_resources.quality.relations import resolve_refs

# order 2 is repeated; customers 99 and 98 are unknown (the warehouse also holds a NULL id,
# which must not hide them); amount -3 is below 0; regions east and west are not accepted;
# the last order lacks a customer and an amount.
ORDERS = """order_id,customer_id,region,amount
1,10,north,5.0
2,11,south,20.0
2,12,north,-3.0
3,99,east,7.0
4,,south,
5,98,west,1.0
"""
ORDERS_RULES = {
    "primary_key": ["order_id"],
    "columns": {
        "amount": {"min": 0},
        "region": {"accepted_values": ["north", "south"]},
        "customer_id": {"references": "warehouse/customers.customer_id"},
    },
}


def make_home(root: Path, datasets: dict | None = None) -> Home:
    lake = root / "sources" / "lake"
    lake.mkdir(parents=True)
    (lake / "orders.csv").write_text(ORDERS)
    with duckdb.connect(str(root / "sources" / "warehouse.duckdb")) as con:
        con.execute("CREATE TABLE customers (customer_id INTEGER, name VARCHAR)")
        con.execute("INSERT INTO customers VALUES (10, 'a'), (11, 'b'), (12, 'c'), (NULL, 'd')")
    config = {
        "sources": [
            {"name": "lake", "type": "data_lake", "uri": "sources/lake"},
            {"name": "warehouse", "type": "data_warehouse", "uri": "sources/warehouse.duckdb"},
        ],
        "datasets": {"lake/orders": ORDERS_RULES} if datasets is None else datasets,
    }
    home = Home(root)
    home.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    discover(home, home.load_config())
    return home


def assess(home: Home, key: str, **options):
    config: PlatformConfig = home.load_config()
    settings = dataset_settings(config.datasets, config.quality, key)
    record = CatalogStore(home.catalog_path).get(key)
    references = resolve_refs(home, home.load_specs(config), settings.referenced_keys)
    with duckdb.connect() as con:
        return assess_dataset(con, record, settings, references=references, **options)


@pytest.fixture
def home(tmp_path) -> Home:
    return make_home(tmp_path)


def test_figures_match_hand_counts(home):
    a = assess(home, "lake/orders")
    checks = a.checks
    assert list(checks) == list(DATASET_CHECKS)
    assert a.row_count == 6
    # 2 null cells of 6 rows x 4 columns
    assert (checks["completeness"].value, checks["completeness"].passed) == (round(22 / 24, 6), False)
    assert checks["completeness"].metadata == {"row_count": 6, "null_cells": 2, "cells": 24}
    consistency = checks["consistency"]
    assert consistency.value == round(4 / 6, 6) and not consistency.passed
    assert consistency.metadata == {
        "row_count": 6,
        "key_uniqueness": round(5 / 6, 6),
        "duplicate_or_missing_key_rows": 1,
        "referential_integrity": round(4 / 6, 6),
        "orphan_rows": 2,
        "orphans_by_column": {"customer_id": 2},
    }
    assert {"order_id": 2, "copies": 2} in consistency.samples
    assert sorted(r["customer_id"] for r in consistency.samples if "customer_id" in r) == [98, 99]
    accuracy = checks["accuracy"]
    assert (accuracy.value, accuracy.threshold) == (0.5, 0.97)
    assert accuracy.metadata["violations_by_column"] == {"region": 2, "amount": 1}
    assert sorted(r["order_id"] for r in accuracy.samples) == [2, 3, 5]
    assert checks["schema_conformity"].passed and checks["schema_conformity"].value == 1.0
    assert checks["row_count_anomaly"].passed and checks["row_count_anomaly"].metadata["history"] == 0
    assert a.quality_score == round((22 / 24 + 4 / 6 + 0.5) / 3, 6)
    assert a.last_updated == os.stat(home.root / "sources" / "lake" / "orders.csv").st_mtime


def test_required_columns_and_thresholds_narrow_the_checks(tmp_path):
    home = make_home(tmp_path, {"lake/orders": {"required_columns": ["order_id", "region"], "accuracy": 0.5}})
    checks = assess(home, "lake/orders").checks
    assert checks["completeness"].metadata == {"row_count": 6, "null_cells": 0, "cells": 12}
    assert checks["completeness"].passed and checks["completeness"].samples == []
    assert checks["accuracy"].value == 1.0  # no rules declared: nothing to break


def test_passing_checks_read_no_samples(tmp_path):
    home = make_home(tmp_path, {"warehouse/customers": {"completeness": 0.5}})
    a = assess(home, "warehouse/customers")
    assert all(o.passed and o.samples == [] for o in a.checks.values())
    assert a.checks["completeness"].value == 7 / 8


def test_a_reference_to_a_transformation_output_reads_its_file(tmp_path):
    rules = {"columns": {"customer_id": {"references": "transformed/known_customers.customer_id"}}}
    home = make_home(tmp_path, {"lake/orders": rules})
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "known_customers.yaml").write_text(yaml.safe_dump({
        "name": "known_customers", "type": "etl", "sources": ["warehouse/customers"],
        "rules": [{"filter": "customer_id IS NOT NULL"}],
        "target_schema": {"columns": [{"name": "customer_id", "type": "INTEGER"}, {"name": "name", "type": "VARCHAR"}]},
    }))
    output = home.output_path(["transformed", "known_customers"])
    output.parent.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute("COPY (SELECT * FROM (VALUES (10, 'a'), (99, 'z')) v(customer_id, name)) TO ? (FORMAT parquet)",
                    [str(output)])
    consistency = assess(home, "lake/orders").checks["consistency"]
    # customers 11, 12 and 98 are unknown to the output; the NULL customer is no orphan
    assert consistency.metadata["orphans_by_column"] == {"customer_id": 3}
    assert consistency.value == 0.5


def test_row_count_anomaly_reads_the_history(home):
    steady = assess(home, "lake/orders", history=[6, 6, 7, 6, 6]).checks["row_count_anomaly"]
    assert steady.passed and steady.metadata["median"] == 6.0
    jump = assess(home, "lake/orders", history=[60, 61, 59, 60, 60]).checks["row_count_anomaly"]
    assert not jump.passed and jump.threshold == 3.5
    assert jump.value == 54.0  # |6 - 60| / 1: MAD is 0, so the scale is its floor of one row


def test_schema_drift_names_missing_extra_and_retyped_columns(home):
    (home.root / "sources" / "lake" / "orders.csv").write_text(
        "order_id,customer_id,region,channel\n1,x10,north,web\n2,x11,south,shop\n"
    )
    check = assess(home, "lake/orders", checks=["schema_conformity"]).checks["schema_conformity"]
    assert not check.passed
    assert check.metadata == {
        "missing_columns": 1,
        "extra_columns": 1,
        "type_mismatches": 1,
        "violations": [
            {"where": str(home.root / "sources" / "lake" / "orders.csv"), "kind": k, "column": c, "detail": d}
            for k, c, d in [
                ("type_mismatch", "customer_id", "is VARCHAR, catalogued BIGINT"),
                ("missing_column", "amount", "catalogued as DOUBLE, now missing"),
                ("extra_column", "channel", "new column of type VARCHAR"),
            ]
        ],
    }
    assert check.value == round(2 / 5, 6)  # order_id, region conform; of 4 catalogued + 1 new
    assert [r["channel"] for r in check.samples] == ["web", "shop"]


def test_declared_columns_the_data_lacks_are_not_measured(tmp_path):
    home = make_home(tmp_path, {"lake/orders": {"columns": {"discount": {"min": 0}}}})
    checks = assess(home, "lake/orders").checks
    assert checks["schema_conformity"].passed
    for name in ("completeness", "consistency", "accuracy", "row_count_anomaly"):
        assert not checks[name].passed
        assert checks[name].description == (
            "not measured: datacrew.yaml datasets.lake/orders names column(s) discount that lake/orders does not have"
        )


def test_a_vanished_file_fails_every_check_with_one_line(home):
    (home.root / "sources" / "lake" / "orders.csv").unlink()
    a = assess(home, "lake/orders")
    assert a.metrics is None and a.last_updated is None
    for outcome in a.checks.values():
        assert not outcome.passed
        assert outcome.description == f"lake/orders vanished: nothing at {home.root / 'sources' / 'lake' / 'orders.csv'}"


def test_an_unreadable_warehouse_fails_with_one_line(home):
    (home.root / "sources" / "warehouse.duckdb").write_bytes(b"not a database")
    a = assess(home, "warehouse/customers")
    description = a.checks["schema_conformity"].description
    assert description.startswith("cannot check warehouse/customers: ") and "\n" not in description
    assert a.scannable and not any(o.passed for o in a.checks.values())


def test_a_kind_duckdb_cannot_read_says_so(home):
    record = CatalogStore(home.catalog_path).get("lake/orders").model_copy(
        update={"format": "xlsx", "location": str(home.root / "book.xlsx"), "table": "Sheet1"}
    )
    config = home.load_config()
    with duckdb.connect() as con:
        a = assess_dataset(con, record, dataset_settings(config.datasets, config.quality, "lake/orders"))
    assert not a.scannable
    assert a.checks["accuracy"].description == (
        f"lake/orders cannot be scanned (xlsx at {home.root / 'book.xlsx'}): discovery reads workbook sheets "
        "with openpyxl; DuckDB would need its excel extension, not installed"
    )


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({}, ("schema_conformity", "completeness", "row_count_anomaly")),
        ({"primary_key": ["order_id"]}, ("schema_conformity", "completeness", "consistency", "row_count_anomaly")),
        ({"columns": {"customer_id": {"references": "warehouse/customers.customer_id"}}},
         ("schema_conformity", "completeness", "consistency", "row_count_anomaly")),
        ({"columns": {"region": {"pattern": "^n"}}},
         ("schema_conformity", "completeness", "accuracy", "row_count_anomaly")),
        (ORDERS_RULES, DATASET_CHECKS),
    ],
)
def test_only_checks_that_can_fail_are_declared(rules, expected):
    config = PlatformConfig.model_validate({"datasets": {"lake/orders": rules} if rules else {}})
    assert declared_checks(dataset_settings(config.datasets, config.quality, "lake/orders")) == expected
