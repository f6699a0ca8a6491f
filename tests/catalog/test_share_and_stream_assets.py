"""File shares and landing zones end to end: `datacrew discover` and their Dagster assets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import openpyxl
import pytest

from datacrew_assets.cli import main
from datacrew_assets.discovered import discovered_asset_specs
from datacrew_resources.catalog.models import ColumnInfo, DatasetRecord
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home, SourceType

CONFIG = """\
sources:
  - {name: share, type: file_systems, uri: share, owner: "team:finance"}
  - name: clicks
    type: streaming
    uri: landing
    options: {event_time: at}
"""


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "datacrew.yaml").write_text(CONFIG)
    share = tmp_path / "share" / "Legacy Exports"
    share.mkdir(parents=True)
    (share / "Carriers.csv").write_text("carrier,name\nUA,United\nAA,American\n")
    book = openpyxl.Workbook()
    book.active.title = "Seats"
    book.active.append(["tailnum", "seats"])
    book.active.append(["N1", 55])
    book.save(tmp_path / "share" / "Planes.xlsx")
    batches = tmp_path / "landing" / "web" / "2026" / "11" / "24"
    batches.mkdir(parents=True)
    for n in (1, 2):
        rows = [{"user": n * 10 + i, "at": f"2026-11-24T0{n}:00:0{i}Z"} for i in range(n + 1)]
        (batches / f"batch-00000{n}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return Home(tmp_path)


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_discover_json_lists_share_and_stream_datasets(home, capsys):
    code, out, err = _cli(capsys, "discover", "--home", str(home.root), "--json")

    assert code == 0, err
    datasets = {d["asset_key"]: d for d in json.loads(out)["datasets"]}
    assert sorted(datasets) == ["clicks/web", "share/legacy_exports_carriers", "share/planes_seats"]
    web, carriers, seats = (datasets[k] for k in sorted(datasets))
    assert (carriers["format"], carriers["record_count"], carriers["source_type"]) == ("csv", 2, "file_systems")
    assert (seats["format"], seats["record_count"]) == ("xlsx", 1)
    assert seats["schema"] == [
        {"name": "tailnum", "type": "VARCHAR", "nullable": False},
        {"name": "seats", "type": "BIGINT", "nullable": False},
    ]
    assert (web["format"], web["record_count"], web["source_type"]) == ("json", 5, "streaming")
    assert web["last_updated"] == "2026-11-24T02:00:02+00:00"
    assert web["uri"] == f"{home.root / 'landing' / 'web'}/**/*.jsonl"


def test_discover_text_output_has_one_line_per_dataset(home, capsys):
    code, out, _ = _cli(capsys, "discover", "--home", str(home.root))

    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["share/legacy_exports_carriers", "share/planes_seats", "clicks/web"]
    assert lines[2].split()[1:4] == ["5", "rows", "2"]


def test_bad_share_file_is_one_error_line_the_rest_is_written_and_exit_3(home, capsys):
    _cli(capsys, "discover", "--home", str(home.root))
    share_before = [r for r in CatalogStore(home.catalog_path).all() if r.source == "share"]
    bad = home.root / "share" / "Legacy Exports" / "Broken.xlsx"
    bad.write_bytes(b"not a workbook")

    code, out, err = _cli(capsys, "discover", "--home", str(home.root), "--json")

    assert (code, err) == (3, "")
    payload = json.loads(out)
    assert payload["errors"] == [{
        "source": "share", "dataset": "legacy_exports_broken",
        "message": f"{bad}: source 'share': cannot read xlsx (BadZipFile: File is not a zip file)",
    }]
    assert [d["asset_key"] for d in payload["datasets"]] == [
        "share/legacy_exports_carriers", "share/planes_seats", "clicks/web"
    ]
    assert [r for r in CatalogStore(home.catalog_path).all() if r.source == "share"] == share_before


def test_share_and_stream_datasets_are_assets_with_their_kinds(home, capsys):
    _cli(capsys, "discover", "--home", str(home.root))

    records = CatalogStore(home.catalog_path).all()
    defs = dg.Definitions(assets=discovered_asset_specs(records))
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}

    assert {key: spec.kinds for key, spec in specs.items()} == {
        dg.AssetKey(["share", "legacy_exports_carriers"]): {"fileshare", "csv"},
        dg.AssetKey(["share", "planes_seats"]): {"fileshare", "xlsx"},
        dg.AssetKey(["clicks", "web"]): {"streaming", "json"},
    }
    seats = specs[dg.AssetKey(["share", "planes_seats"])]
    assert seats.metadata["dagster/table_name"] == "Seats"
    assert seats.metadata["dagster/row_count"] == 1
    assert seats.owners == ["team:finance"]
    web = specs[dg.AssetKey(["clicks", "web"])]
    assert web.group_name == "clicks" and web.metadata["dagster/row_count"] == 5
    assert [c.name for c in web.metadata["dagster/column_schema"].columns] == ["user", "at"]
    assert Path(web.metadata["dagster/uri"]).parts[-2:] == ("**", "*.jsonl")


@pytest.mark.parametrize(("fmt", "kinds"), [("nats_stream", {"streaming", "nats"}), ("redis_stream", {"streaming", "redis"})])
def test_message_streams_are_assets_of_their_server_kind(fmt, kinds):
    record = DatasetRecord(
        source="bus", source_type=SourceType.streaming, dataset_name="clicks", format=fmt,
        location="nats://127.0.0.1:4222/CLICKS", columns=[ColumnInfo(name="id", type="BIGINT")],
        record_count=3, last_updated=datetime(2026, 11, 24, tzinfo=UTC),
    )

    (spec,) = discovered_asset_specs([record])

    assert spec.kinds == kinds
