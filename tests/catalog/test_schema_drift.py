"""Schema drift: discover, change a file's schema, rediscover; the catalog history keeps both schemas
and the change, `datacrew catalog history` shows them, and the sensor's observation carries it."""

from __future__ import annotations

import json

import pytest

from datacrew_assets.cli import main
from datacrew_assets.discovery import catalog_changes_result
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home

CHANGE = {
    "added": ["reason"],
    "removed": [],
    "retyped": [{"column": "minutes", "from": "BIGINT", "to": "DOUBLE"}],
    "nullability": [],
}


@pytest.fixture
def home(tmp_path) -> Home:
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "delays.csv").write_text("flight,minutes\n1,5\n2,7\n")
    (tmp_path / "datacrew.yaml").write_text("sources:\n  - {name: lake, type: data_lake, uri: lake}\n")
    return Home(tmp_path)


def drift(home: Home) -> None:
    (home.root / "lake" / "delays.csv").write_text("flight,minutes,reason\n1,5.5,weather\n2,7.0,crew\n3,0.5,atc\n")


def test_rediscovery_records_both_schemas_and_the_change(home):
    discover(home, home.load_config())
    drift(home)
    discover(home, home.load_config())
    discover(home, home.load_config())  # nothing changed: no history row, the change stays

    first, second = CatalogStore(home.catalog_path).history("lake/delays")

    assert (first.record_count, second.record_count) == (2, 3)
    assert first.columns == [("flight", "BIGINT", False), ("minutes", "BIGINT", False)]
    assert second.columns == [("flight", "BIGINT", False), ("minutes", "DOUBLE", False), ("reason", "VARCHAR", False)]
    assert (first.schema_change, second.schema_change) == (None, CHANGE)


def test_the_sensor_observes_the_change(home):
    discover(home, home.load_config())
    store = CatalogStore(home.catalog_path)
    first = catalog_changes_result(store.all(), None)
    drift(home)
    discover(home, home.load_config())

    second = catalog_changes_result(store.all(), first.cursor)

    (observation,) = second.asset_events
    # The sensor's cursor keeps names and types only: no nullability part.
    expected = {k: v for k, v in CHANGE.items() if k != "nullability"}
    assert observation.metadata["datacrew/schema_change"].value == expected
    assert observation.metadata["datacrew/change"].value == "changed"


def test_catalog_history_cli(home, capsys):
    discover(home, home.load_config())
    drift(home)
    discover(home, home.load_config())

    code = main(["catalog", "history", "lake/delays", "--home", str(home.root)])
    lines = capsys.readouterr().out.splitlines()

    assert code == 0
    assert lines[0] == "lake/delays: 2 recorded scan(s), each one that changed the record"
    assert lines[1].split()[1:5] == ["2", "rows", "schema", lines[1].split()[4]]
    assert lines[1].endswith("first scan")
    assert lines[2] == "    columns: flight BIGINT NOT NULL, minutes BIGINT NOT NULL"
    assert lines[3].endswith("added reason; retyped minutes BIGINT -> DOUBLE")
    assert lines[4] == "    columns: flight BIGINT NOT NULL, minutes DOUBLE NOT NULL, reason VARCHAR NOT NULL"
    assert len(lines) == 5

    code = main(["catalog", "history", "lake/delays", "--home", str(home.root), "--json"])
    payload = json.loads(capsys.readouterr().out)

    assert code == 0
    assert payload["asset_key"] == "lake/delays" and payload["errors"] == []
    assert [s["record_count"] for s in payload["scans"]] == [2, 3]
    assert [s["schema_change"] for s in payload["scans"]] == [None, CHANGE]
    assert payload["scans"][1]["schema"][2] == {"name": "reason", "type": "VARCHAR", "nullable": False}


def test_catalog_history_shows_the_latest_error_of_the_dataset(home, capsys):
    discover(home, home.load_config())
    bad = home.root / "lake" / "delays.csv"
    bad.write_text("flight,minutes\n1,5,9\n2,7\n")
    discover(home, home.load_config())

    code = main(["catalog", "history", "lake/delays", "--home", str(home.root)])
    lines = capsys.readouterr().out.splitlines()

    assert code == 0 and len(lines) == 4
    assert lines[3].startswith("error in the latest scan (")
    assert lines[3].endswith(
        f"): {bad}: source 'lake': ragged CSV: line 2 has 3 fields, the header has 2 (delimiter ',')"
    )


def test_catalog_history_of_an_unknown_dataset_exits_2(home, capsys):
    discover(home, home.load_config())

    code = main(["catalog", "history", "lake/nope", "--home", str(home.root)])

    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "datacrew: KEY: 'lake/nope': no such dataset in the catalog (see `datacrew discover`)"
    )
