from __future__ import annotations

import datetime as dt
import gzip
import os
import sys
from pathlib import Path

import openpyxl
import pytest

from datacrew_resources.catalog.errors import DiscoveryError
from datacrew_resources.catalog.fileshare import scan_fileshare
from datacrew_resources.catalog.store import CatalogStore, ScanError
from datacrew_resources.config import SourceConfig, SourceType

SHARE = SourceConfig(name="share", type=SourceType.file_systems, uri="share", owner="team:finance")


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def share_records(source, root):
    """The share's records, once it is clear that every file was read."""
    records, errors = scan_fileshare(source, root)
    assert errors == []
    return records


def shape(record) -> list[tuple[str, str, bool]]:
    return [(c.name, c.type, c.nullable) for c in record.columns]


@pytest.fixture
def share(tmp_path) -> Path:
    root = tmp_path / "share"
    write(root / "Finance" / "Q3 Report.csv", "id,amount,booked_on\n1,10.5,2024-07-01\n2,,2024-08-01\n3,7.25,2024-09-30\n")
    write(root / "Ops" / "Legacy-EXPORTS" / "Daily Flights.tsv", "carrier\tflights\nUA\t12\nAA\t7\n")
    gz = root / "archive" / "planes 2013.csv.gz"
    gz.parent.mkdir(parents=True)
    gz.write_bytes(gzip.compress(b"tailnum,seats\nN1,55\nN2,182\nN3,\nN4,20\n"))
    workbook(
        root / "Budget 2024.xlsx",
        {
            "Plan": [["month", "amount"], ["jan", 100], ["feb", 120]],
            "Actuals Q1": [["month", "amount", "approved"], ["jan", 98.5, True]],
            "Sheet3": [],
        },
    )
    # Never datasets: hidden, temporary, Office lock files, other formats.
    write(root / ".hidden.csv", "a\n1\n")
    write(root / "_tmp" / "partial.csv", "a\n1\n")
    write(root / "~$Budget 2024.xlsx", "lock")
    write(root / "notes.txt", "not data")
    write(root / "events.json", '{"a": 1}\n')
    return root


def test_every_share_file_and_sheet_is_a_dataset_named_from_its_path(share):
    records = share_records(SHARE, share)

    assert [r.dataset_name for r in records] == [
        "budget_2024_plan",
        "budget_2024_actuals_q1",
        "finance_q3_report",
        "ops_legacy_exports_daily_flights",
        "archive_planes_2013",
    ]
    assert {r.source_type for r in records} == {SourceType.file_systems}
    assert {r.owner for r in records} == {"team:finance"}
    by_name = {r.dataset_name: r for r in records}

    report = by_name["finance_q3_report"]
    assert (report.format, report.compression, report.table) == ("csv", None, None)
    assert report.location == str(share.resolve() / "Finance" / "Q3 Report.csv")
    assert report.record_count == 3
    assert shape(report) == [("id", "BIGINT", False), ("amount", "DOUBLE", True), ("booked_on", "DATE", False)]
    assert report.quality_score == pytest.approx(8 / 9, abs=1e-4)
    stat = (share / "Finance" / "Q3 Report.csv").stat()
    assert (report.size_bytes, report.file_count) == (stat.st_size, 1)
    assert report.last_updated == dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC)

    flights = by_name["ops_legacy_exports_daily_flights"]
    assert (flights.format, flights.record_count) == ("csv", 2)
    assert shape(flights) == [("carrier", "VARCHAR", False), ("flights", "BIGINT", False)]

    planes = by_name["archive_planes_2013"]
    assert (planes.format, planes.compression, planes.record_count) == ("csv", "gzip", 4)
    assert shape(planes) == [("tailnum", "VARCHAR", False), ("seats", "BIGINT", True)]

    plan, actuals = by_name["budget_2024_plan"], by_name["budget_2024_actuals_q1"]
    assert (plan.format, plan.table, plan.record_count) == ("xlsx", "Plan", 2)
    assert plan.location == actuals.location == str(share.resolve() / "Budget 2024.xlsx")
    assert shape(plan) == [("month", "VARCHAR", False), ("amount", "BIGINT", False)]
    assert (actuals.table, actuals.record_count) == ("Actuals Q1", 1)
    assert shape(actuals) == [("month", "VARCHAR", False), ("amount", "DOUBLE", False), ("approved", "BOOLEAN", False)]
    assert plan.quality_score == 1.0


def test_xlsx_types_come_from_cell_values(tmp_path):
    rows = [
        [None],  # a title-less first row: the header is the first row with a value
        ["id", "when", "day", "at", "wait", "ratio", "mixed", None, "id", "flag", "code", "blank"],
        [1, dt.datetime(2024, 1, 2, 3, 4), dt.datetime(2024, 1, 3), dt.time(1, 2), dt.timedelta(minutes=90),
         1, 7, "x", 5, True, "007", None],
        [None] * 12,  # formatting leaves empty rows behind
        [2, dt.datetime(2024, 1, 2, 3, 5), dt.datetime(2024, 1, 4), dt.time(1, 3), None,
         0.5, "n/a", None, 6, False, "042", None],
    ]
    workbook(tmp_path / "share" / "types.xlsx", {"Data": rows})

    (record,) = share_records(SHARE, tmp_path / "share")

    assert record.dataset_name == "types_data"
    assert record.record_count == 2
    assert shape(record) == [
        ("id", "BIGINT", False),
        ("when", "TIMESTAMP", False),
        ("day", "DATE", False),
        ("at", "TIME", False),
        ("wait", "INTERVAL", True),
        ("ratio", "DOUBLE", False),
        ("mixed", "VARCHAR", False),
        ("column7", "VARCHAR", True),
        ("id_1", "BIGINT", False),
        ("flag", "BOOLEAN", False),
        ("code", "VARCHAR", False),  # text cells stay text
        ("blank", "VARCHAR", True),
    ]
    assert record.quality_score == pytest.approx(20 / 24, abs=1e-4)


def test_clashing_names_are_refused_naming_both(tmp_path):
    root = tmp_path / "share"
    write(root / "a" / "b.csv", "x\n1\n")
    write(root / "A_B.csv", "x\n2\n")

    with pytest.raises(DiscoveryError) as info:
        scan_fileshare(SHARE, root)

    message = str(info.value)
    assert "'a_b' is used twice (A_B.csv and a/b.csv)" in message and "\n" not in message


def test_missing_share_directory(tmp_path):
    with pytest.raises(DiscoveryError, match="file share is not a directory"):
        scan_fileshare(SHARE, tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", b"", "file is empty"),
        ("empty.xlsx", b"", "file is empty"),
        ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n", "ragged CSV: line 3 has 2 fields, the header has 3 (delimiter ',')"),
        ("ragged.tsv", b"a\tb\n1\t2\t3\n", "ragged CSV: line 2 has 3 fields, the header has 2 (delimiter '\\t')"),
        ("corrupt.xlsx", b"PK\x03\x04 not really a zip", "cannot read xlsx (BadZipFile: File is not a zip file)"),
        ("text.xlsx", b"id,name\n1,a\n", "cannot read xlsx (BadZipFile: File is not a zip file)"),
    ],
)
def test_bad_files_fail_their_dataset_with_one_line_naming_the_file(tmp_path, name, content, problem):
    root = tmp_path / "share"
    write(root / "good.csv", "x\n1\n")
    bad = root / "Legacy Dir" / name
    bad.parent.mkdir()
    bad.write_bytes(content)

    records, errors = scan_fileshare(SHARE, root)

    assert [r.dataset_name for r in records] == ["good"]
    dataset = f"legacy_dir_{name.split('.')[0]}"
    assert errors == [ScanError("share", dataset, f"{bad.resolve()}: source 'share': {problem}")]


def test_workbook_without_any_value_fails_as_its_dataset(tmp_path):
    path = workbook(tmp_path / "share" / "blank.xlsx", {"Sheet1": [], "Sheet2": [[None, None]]})

    records, errors = scan_fileshare(SHARE, tmp_path / "share")

    assert records == []
    assert errors == [ScanError("share", "blank", f"{path.resolve()}: source 'share': workbook has no sheet with data")]


def test_a_broken_workbook_fails_every_sheet_it_held(tmp_path):
    root = tmp_path / "share"
    path = workbook(root / "Budget.xlsx", {"Plan": [["m", "x"], ["jan", 1]], "Actuals": [["m", "x"], ["jan", 2]]})
    write(root / "good.csv", "x\n1\n")
    previous = {r.dataset_name: r for r in share_records(SHARE, root)}
    path.write_bytes(b"not a workbook any more")

    records, errors = scan_fileshare(SHARE, root, previous)

    assert [r.dataset_name for r in records] == ["good"]
    message = f"{path.resolve()}: source 'share': cannot read xlsx (BadZipFile: File is not a zip file)"
    assert errors == [ScanError("share", "budget_actuals", message), ScanError("share", "budget_plan", message)]


def test_unreadable_files_fail_their_datasets_in_the_cli_and_keep_their_records(tmp_path, run_unprivileged):
    home = tmp_path / "home"
    write(home / "datacrew.yaml", "sources:\n  - {name: share, type: file_systems, uri: share}\n")
    write(home / "share" / "flights.csv", "carrier,flights\nUA,3\n")
    workbook(home / "share" / "planes.xlsx", {"Seats": [["tailnum", "seats"], ["N1", 55]]})
    write(home / "share" / "Ops" / "daily.csv", "day,flights\n1,3\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster")}
    datacrew = str(Path(sys.executable).parent / "datacrew")
    first = run_unprivileged(datacrew, "discover", "--home", str(home), env=env)
    assert first.returncode == 0, first.stderr
    store = CatalogStore(home / "state" / "catalog.sqlite")
    catalog = store.all()
    assert [r.key_string for r in catalog] == ["share/flights", "share/ops_daily", "share/planes_seats"]

    for locked, dataset, problem in [
        (home / "share" / "flights.csv", "flights", "cannot read "),
        (home / "share" / "planes.xlsx", "planes_seats", "cannot read "),
        (home / "share" / "Ops", "ops_daily", "cannot read (PermissionError: "),
    ]:
        locked.chmod(0)
        try:
            result = run_unprivileged(datacrew, "discover", "--home", str(home), env=env)
        finally:
            locked.chmod(0o755 if locked.is_dir() else 0o644)

        assert (result.returncode, result.stderr) == (3, "")
        *datasets, partial, line = result.stdout.splitlines()
        # The failed dataset is listed with its previous record, then named in the error line.
        assert [d.split()[0] for d in datasets] == [r.key_string for r in catalog]
        assert partial == "partial scan: 1 error(s); the previous catalog entries of what failed are kept"
        assert line.startswith(f"error share/{dataset}: {locked}: source 'share': {problem}")
        assert "Permission denied" in line
        assert store.all() == catalog
        assert [(e.error.source, e.error.dataset) for e in store.errors()] == [("share", dataset)]
