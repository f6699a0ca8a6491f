"""File-share connector (`file_systems`): CSV/TSV files and XLSX workbooks of a legacy share.

Every file is its own dataset, at any depth, named from its path below the
share without the data suffix: `Finance/Q3 Report.csv` is `finance_q3_report`
(see `names.dataset_name` for spaces, dashes and case). Each non-empty sheet of
a workbook is a dataset `<file>_<sheet>`, always, so adding a sheet never
renames the others; its record's `table` is the sheet name. Names that clash
(`a/b.csv` and `a_b.csv`) are refused, naming both.

Skipped: names starting with `.` or `_`, Office lock files (`~$Book.xlsx`),
other suffixes. `.csv.gz`/`.tsv.gz` are read as they are, with the compression
recorded. CSV files are read as the lake reads them (`datafiles.profile`);
workbooks by `workbook.read_workbook`.

A bad file does not fail the share: an empty file, a ragged CSV, a corrupt
workbook or one without a single value, an unreadable file or directory is a
`ScanError` (one line naming the file) for each dataset it held at the
previous scan (`previous`: every sheet of a workbook), or, when it held none
yet, for the dataset its name gives; discovery keeps those datasets' previous
records and the scan goes on. Two files with one dataset name fail the source.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ..config import SourceConfig, SourceType
from .datafiles import FileKind, file_kind, profile, single_file
from .errors import DATASET_READ_ERRORS, DiscoveryError, dataset_failure
from .models import ColumnInfo, DatasetProfile, DatasetRecord
from .names import check_unique_names, dataset_name
from .quality import completeness
from .store import ScanError
from .workbook import WorkbookError, read_workbook

WORKBOOK_SUFFIX = ".xlsx"
_SKIPPED_PREFIXES = (".", "_", "~$")


def scan_fileshare(
    source: SourceConfig, root: Path, previous: Mapping[str, DatasetRecord] | None = None
) -> tuple[list[DatasetRecord], list[ScanError]]:
    """Every CSV file and workbook sheet under the share directory `root`, sorted by path, and the
    datasets that could not be read; `previous` records by dataset name."""
    if not root.is_dir():
        raise DiscoveryError(f"source {source.name!r}: file share is not a directory", file=str(root))
    root = root.resolve()
    held = _datasets_by_location((previous or {}).values())
    records: list[DatasetRecord] = []
    origins: list[tuple[str, str]] = []
    paths, unreadable = _share_files(root)
    if unreadable and unreadable[0][0] == root:
        raise DiscoveryError(
            f"source {source.name!r}: cannot list the file share ({unreadable[0][1].strerror})", file=str(root)
        )
    errors = [
        failure for directory, e in unreadable for failure in _failures(source, root, directory, held, e)
    ]
    with duckdb.connect() as con:
        for path in paths:
            relative = path.relative_to(root)
            try:
                if path.suffix.lower() == WORKBOOK_SUFFIX:
                    found = _workbook_records(source, path, _base_name(relative, path.suffix))
                    origins += [(r.dataset_name, f"{relative}[{r.table}]") for r in found]
                else:
                    kind = file_kind(path)
                    found = [_csv_record(con, source, path, kind, _base_name(relative, kind.suffix))]
                    origins.append((found[0].dataset_name, str(relative)))
            except DATASET_READ_ERRORS as e:
                errors += _failures(source, root, path, held, e)
                continue
            records += found
    check_unique_names(source.name, origins, file=str(root))
    return records, sorted(errors, key=lambda e: e.dataset or "")


def _datasets_by_location(records: Iterable[DatasetRecord]) -> dict[str, list[str]]:
    held: dict[str, list[str]] = {}
    for record in records:
        held.setdefault(record.location, []).append(record.dataset_name)
    return held


def _failures(
    source: SourceConfig, root: Path, path: Path, held: Mapping[str, list[str]], error: Exception
) -> list[ScanError]:
    """One error per dataset the file (or every file under the directory) `path` held, else one for its name."""
    inside = f"{path}{os.sep}"
    names = [
        name for location, held_names in held.items()
        if location == str(path) or location.startswith(inside) for name in held_names
    ]
    if not names:
        relative = path.relative_to(root)
        kind = file_kind(path)
        if path.suffix.lower() == WORKBOOK_SUFFIX or kind is not None:
            base = _base_name(relative, path.suffix if kind is None else kind.suffix)
        else:  # a directory
            base = "_".join(relative.parts)
        try:
            names = [dataset_name(base, source=source.name, file=str(path))]
        except DiscoveryError:
            names = [str(relative)]
    return [dataset_failure(source.name, name, path, error) for name in sorted(names)]


def _share_files(root: Path) -> tuple[list[Path], list[tuple[Path, OSError]]]:
    """Data files under `root`, skipping hidden and temporary entries at every depth, and the
    directories that could not be listed (their files are not missing, only unread)."""
    unreadable: list[tuple[Path, OSError]] = []
    found = []
    for directory, subdirectories, files in os.walk(root, onerror=lambda e: unreadable.append((Path(e.filename), e))):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(_SKIPPED_PREFIXES))
        for name in sorted(files):
            path = Path(directory) / name
            if name.startswith(_SKIPPED_PREFIXES) or not path.is_file():
                continue
            kind = file_kind(path)
            if path.suffix.lower() == WORKBOOK_SUFFIX or (kind is not None and kind.format == "csv"):
                found.append(path)
    return sorted(found), unreadable


def _base_name(relative: Path, suffix: str) -> str:
    """The path below the share without the data suffix, parts joined: `Finance/Q3 Report`."""
    return "_".join([*relative.parts[:-1], relative.name[: -len(suffix)]])


def _csv_record(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path, kind: FileKind, base: str
) -> DatasetRecord:
    name = dataset_name(base, source=source.name, file=str(path))
    found = profile(con, source, single_file(path, kind))
    return _record(
        source, path, name, kind.format,
        columns=found.columns, rows=found.rows, quality=found.quality, compression=kind.compression,
        profile=found.profile,
    )


def _workbook_records(source: SourceConfig, path: Path, base: str) -> list[DatasetRecord]:
    if path.stat().st_size == 0:
        raise DiscoveryError(f"source {source.name!r}: file is empty", file=str(path))
    try:
        sheets = read_workbook(path)
    except WorkbookError as e:
        raise DiscoveryError(f"source {source.name!r}: cannot read xlsx ({e})", file=str(path)) from None
    if not sheets:
        raise DiscoveryError(f"source {source.name!r}: workbook has no sheet with data", file=str(path))
    records = []
    for sheet in sheets:
        name = dataset_name(f"{base}_{sheet.name}", source=source.name, file=f"{path}[{sheet.name}]")
        rows = sheet.table.num_rows
        non_null = [rows - column.null_count for column in sheet.table.columns]
        columns = [
            ColumnInfo(name=column, type=type_, nullable=count < rows)
            for column, type_, count in zip(sheet.table.column_names, sheet.types, non_null, strict=True)
        ]
        records.append(
            _record(
                source, path, name, "xlsx",
                columns=columns, rows=rows, quality=completeness(rows, non_null), table=sheet.name,
            )
        )
    return records


def _record(
    source: SourceConfig,
    path: Path,
    name: str,
    fmt: str,
    *,
    columns: list[ColumnInfo],
    rows: int,
    quality: float | None,
    table: str | None = None,
    compression: str | None = None,
    profile: DatasetProfile | None = None,
) -> DatasetRecord:
    stat = path.stat()
    return DatasetRecord(
        source=source.name,
        source_type=SourceType.file_systems,
        dataset_name=name,
        format=fmt,
        location=str(path),
        table=table,
        compression=compression,
        columns=columns,
        record_count=rows,
        size_bytes=stat.st_size,
        file_count=1,
        last_updated=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        owner=source.owner,
        quality_score=quality,
        profile=profile,
    )
