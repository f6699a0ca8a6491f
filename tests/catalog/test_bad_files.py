"""Bad files in a lake, a file share and a landing zone: each fails only its dataset, which keeps
its previous record; the other datasets are written and `datacrew discover` exits 3 naming the file."""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

import pytest

from datacrew_assets.cli import main
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home

CONFIG = """\
sources:
  - {name: lake, type: data_lake, uri: data/lake}
  - {name: share, type: file_systems, uri: data/share}
  - {name: zone, type: streaming, uri: data/zone, options: {event_time: at}}
"""


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def home(tmp_path, write_parquet) -> Home:
    """A home whose three file sources were discovered once, cleanly."""
    data = tmp_path / "data"
    write_parquet(data / "lake" / "sales" / "part-0.parquet", rows=4)
    (data / "lake" / "shops.csv").write_text("id,name\n1,a\n2,b\n")
    (data / "share").mkdir(parents=True)
    (data / "share" / "flights.csv").write_text("carrier,flights\nUA,3\nAA,4\n")
    jsonl(data / "zone" / "clicks" / "batch-000001.jsonl", [{"id": 1, "at": "2026-11-24T10:00:00Z"}])
    jsonl(data / "zone" / "views" / "batch-000001.jsonl", [{"id": 1, "at": "2026-11-24T11:00:00Z"}])
    (tmp_path / "datacrew.yaml").write_text(CONFIG)
    home = Home(tmp_path)
    assert not discover(home, home.load_config()).partial
    return home


def truncated_gzip(path: Path) -> Path:
    whole = gzip.compress(b"id,name\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(5_000)))
    path.write_bytes(whole[: len(whole) // 2])
    return path


def break_files(home: Home) -> dict[str, Path]:
    """One bad file per kind of fault; existing datasets among them keep a previous record."""
    data = home.root / "data"
    bad = {
        "lake/broken": data / "lake" / "broken.parquet",
        "lake/shops": data / "lake" / "shops.csv",
        "lake/empty": data / "lake" / "empty.json",
        "lake/events": data / "lake" / "events.csv.gz",
        "share/flights": data / "share" / "flights.csv",
        "zone/clicks": data / "zone" / "clicks" / "batch-000002.jsonl",
    }
    bad["lake/broken"].write_bytes(b"PAR1 not parquet at all")
    bad["lake/shops"].write_text("id,name\n1,a\n2,b,extra\n3,c\n")
    bad["lake/empty"].touch()
    truncated_gzip(bad["lake/events"])
    bad["share/flights"].write_text("carrier,flights\nUA,3,9\nAA,4\n")
    bad["zone/clicks"].touch()
    # Good changes beside them are written.
    (data / "lake" / "planes.csv").write_text("tailnum,seats\nN1,55\n")
    jsonl(data / "zone" / "views" / "batch-000002.jsonl", [{"id": 2, "at": "2026-11-24T12:00:00Z"}])
    return bad


def test_each_bad_file_fails_only_its_dataset_which_keeps_its_previous_record(home):
    store = CatalogStore(home.catalog_path)
    before = {r.key_string: r for r in store.all()}
    bad = break_files(home)

    report = discover(home, home.load_config())

    assert report.partial
    assert {f"{e.source}/{e.dataset}" for e in report.errors} == set(bad)
    for error in report.errors:
        assert "\n" not in error.message
        assert str(bad[f"{error.source}/{error.dataset}"]) in error.message
    messages = {f"{e.source}/{e.dataset}": e.message for e in report.errors}
    assert messages["lake/shops"].endswith("ragged CSV: line 3 has 3 fields, the header has 2 (delimiter ',')")
    assert messages["lake/empty"].endswith("file is empty")
    assert messages["zone/clicks"].endswith("file is empty")
    assert "end of GZIP stream" in messages["lake/events"]
    after = {r.key_string: r for r in store.all()}
    # Failed datasets seen before keep their records (the zone its position); new bad ones have none.
    for key in ("lake/shops", "share/flights", "zone/clicks"):
        assert after[key] == before[key]
    assert after["zone/clicks"].stream_position.items == 1
    assert sorted(after) == [
        "lake/planes", "lake/sales", "lake/shops", "share/flights", "zone/clicks", "zone/views"
    ]
    assert after["zone/views"].record_count == 2 and after["lake/planes"].record_count == 1
    assert sorted(f"{e.error.source}/{e.error.dataset}" for e in store.errors()) == sorted(bad)


def test_cli_names_each_bad_file_and_exits_3(home, capsys):
    bad = break_files(home)

    code = main(["discover", "--home", str(home.root)])
    out = capsys.readouterr().out.splitlines()

    assert code == 3
    errors = [line for line in out if line.startswith("error ")]
    assert out[-len(errors) - 1] == (
        f"partial scan: {len(bad)} error(s); the previous catalog entries of what failed are kept"
    )
    by_key = {line.split()[1].rstrip(":"): line for line in errors}
    assert sorted(by_key) == sorted(bad)
    for key, path in bad.items():
        assert str(path) in by_key[key]
    listed = [line.split()[0] for line in out[: -len(errors) - 1]]
    assert listed == ["lake/planes", "lake/sales", "lake/shops", "share/flights", "zone/clicks", "zone/views"]

    code = main(["discover", "--home", str(home.root), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 3
    assert sorted(f"{e['source']}/{e['dataset']}" for e in payload["errors"]) == sorted(bad)


def test_unreadable_files_fail_their_datasets_for_an_ordinary_user(home, write_parquet, run_unprivileged):
    """Root reads a mode-000 file anyway: discovery runs without that power, as a service would."""
    store = CatalogStore(home.catalog_path)
    before = {r.key_string: r for r in store.all()}
    data = home.root / "data"
    locked = [
        write_parquet(data / "lake" / "sales" / "part-1.parquet", rows=3),
        jsonl(data / "zone" / "clicks" / "batch-000002.jsonl", [{"id": 2, "at": "2026-11-24T10:05:00Z"}]),
    ]
    (data / "share" / "flights.csv").write_text("carrier,flights\nUA,3\nAA,4\nB6,5\n")
    locked.append(data / "share" / "flights.csv")
    env = {**os.environ, "DAGSTER_HOME": str(home.root / "dagster")}
    datacrew = str(Path(sys.executable).parent / "datacrew")
    for path in locked:
        path.chmod(0)
    try:
        result = run_unprivileged(datacrew, "discover", "--home", str(home.root), env=env)
    finally:
        for path in locked:
            path.chmod(0o644)

    assert (result.returncode, result.stderr) == (3, "")
    errors = [line for line in result.stdout.splitlines() if line.startswith("error ")]
    assert [line.split()[1] for line in errors] == ["lake/sales:", "share/flights:", "zone/clicks:"]
    for line, path in zip(errors, locked[:1] + locked[2:] + locked[1:2], strict=True):
        assert str(path) in line and "Permission denied" in line
    assert store.all() == sorted(before.values(), key=lambda r: r.key_string)

    # Readable again: the next scan reads them and clears the errors.
    assert discover(home, home.load_config()).errors == []
    assert store.get("lake/sales").record_count == 7
    assert store.get("zone/clicks").stream_position.items == 2
    assert store.errors() == []


def test_unreadable_directories_fail_their_datasets_instead_of_hiding_files(home, write_parquet, run_unprivileged):
    """A directory that cannot be listed must not look like one without files (which drops records)."""
    store = CatalogStore(home.catalog_path)
    before = store.all()
    data = home.root / "data"
    partition = write_parquet(data / "lake" / "sales" / "day=2" / "part-0.parquet", rows=3).parent
    write_parquet(data / "lake" / "sales" / "day=1" / "part-0.parquet", rows=4)
    (data / "lake" / "sales" / "part-0.parquet").unlink()
    stream = data / "zone" / "views"
    env = {**os.environ, "DAGSTER_HOME": str(home.root / "dagster")}
    datacrew = str(Path(sys.executable).parent / "datacrew")
    for directory in (partition, stream):
        directory.chmod(0)
    try:
        result = run_unprivileged(datacrew, "discover", "--home", str(home.root), env=env)
    finally:
        for directory in (partition, stream):
            directory.chmod(0o755)

    assert (result.returncode, result.stderr) == (3, "")
    errors = [line for line in result.stdout.splitlines() if line.startswith("error ")]
    assert errors == [
        f"error lake/sales: {data / 'lake' / 'sales'}: source 'lake': cannot read"
        f" (PermissionError: [Errno 13] Permission denied: '{partition}')",
        f"error zone/views: {stream}: source 'zone': cannot read"
        f" (PermissionError: [Errno 13] Permission denied: '{stream}')",
    ]
    assert store.all() == before
