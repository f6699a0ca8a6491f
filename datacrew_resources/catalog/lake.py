"""Data lake connector: one dataset per top-level file or directory of a lake.

Layout: `planes.csv` is dataset `planes`; a directory such as
`flights/year=2013/month=1/part-0.parquet` is ONE dataset `flights` whose
partition keys (`year`, `month`) come from the `key=value` directories. Names
starting with `.` or `_` are skipped, as are files of unknown formats
(parquet, csv/tsv, json/jsonl/ndjson; text formats also gzipped, `.csv.gz`,
with the compression recorded). A directory holds one file suffix.

How files are read (footers for parquet, DuckDB's sniffer and one count query
for CSV/JSON) is `datafiles`, shared with the other file-based connectors.

Rescans are incremental: each record keeps its files' fingerprints (path
relative to the lake, size, mtime_ns), and a dataset whose files all still have
the fingerprints of its previous record keeps that record without a read. Any
new, changed or deleted file makes the whole dataset be read again; a dataset
whose files are all gone is no longer found.

A bad dataset does not fail the lake: a corrupt, empty, ragged or unreadable
file, a directory mixing file types, or a name without letters is a
`ScanError` for that dataset (the file named in its one line), and the scan
goes on; discovery keeps the dataset's previous record. What concerns the lake
as a whole (not a directory, unreadable, two entries with one name) still
fails the source.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ..config import SourceConfig, SourceType
from .datafiles import FileSet, directory_files, file_kind, profile, single_file, stem
from .errors import DATASET_READ_ERRORS, DiscoveryError, dataset_failure
from .models import DatasetRecord, FileFingerprint
from .names import check_unique_names, dataset_name
from .store import ScanError


@dataclass(frozen=True)
class LakeScan:
    records: list[DatasetRecord]  # every dataset found and read or kept, sorted by name
    read: list[str]  # datasets whose files were read; the others kept their previous record
    errors: list[ScanError]  # datasets that could not be read, sorted by name; not in `records`


def scan_lake(
    source: SourceConfig, root: Path, previous: Mapping[str, DatasetRecord] | None = None
) -> tuple[list[DatasetRecord], list[ScanError]]:
    """Every dataset under the lake directory `root`, sorted by name, and the datasets that could
    not be read; `previous` records by dataset name."""
    scan = read_lake(source, root, previous or {})
    return scan.records, scan.errors


def read_lake(source: SourceConfig, root: Path, previous: Mapping[str, DatasetRecord]) -> LakeScan:
    """`scan_lake`, telling which datasets were read and which kept their previous record."""
    if not root.is_dir():
        raise DiscoveryError(f"source {source.name!r}: lake is not a directory", file=str(root))
    root = root.resolve()
    records: list[DatasetRecord] = []
    read: list[str] = []
    found, errors = _find_datasets(source, root)
    prefix = len(str(root)) + 1  # every file was found under `root`: its relative path is a slice
    with _Connection() as con:
        for name, files in found:
            try:
                seen = []  # (path, size, mtime_ns) of each file: models only for a dataset read again
                for path in files.files:
                    stat = os.stat(path)
                    seen.append((str(path)[prefix:], stat.st_size, stat.st_mtime_ns))
                before = previous.get(name)
                if before is not None and _unchanged(source, files, seen, before):
                    records.append(before)
                else:
                    fingerprints = [FileFingerprint(path=p, size=size, mtime_ns=at) for p, size, at in seen]
                    records.append(_record(con.get(), source, name, files, fingerprints))
                    read.append(name)
            except DATASET_READ_ERRORS as e:
                errors.append(dataset_failure(source.name, name, files.location, e))
    return LakeScan(records, read, sorted(errors, key=lambda e: e.dataset or ""))


class _Connection:
    """A DuckDB connection opened on first use: a rescan that reads nothing opens none."""

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None

    def get(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect()
        return self._con

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()


def _unchanged(
    source: SourceConfig, files: FileSet, seen: list[tuple[str, int, int]], before: DatasetRecord
) -> bool:
    """`before` was read from exactly these files, as the source is configured now."""
    return (
        [(f.path, f.size, f.mtime_ns) for f in before.fingerprints] == seen
        and before.location == files.location
        and before.format == files.kind.format
        and before.partition_keys == files.partition_keys
        and before.owner == source.owner
        and before.profile is not None  # read before profiles existed
    )


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))


def _find_datasets(source: SourceConfig, root: Path) -> tuple[list[tuple[str, FileSet]], list[ScanError]]:
    """The lake's datasets by name, and the entries that are no readable dataset."""
    try:
        with os.scandir(root) as listing:  # entry types spare a `stat` per entry
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as e:
        raise DiscoveryError(f"source {source.name!r}: cannot list the lake ({e.strerror})", file=str(root)) from None
    found: list[tuple[str, FileSet, str]] = []
    errors: list[ScanError] = []
    for entry in entries:
        if _skipped(entry.name):
            continue
        try:
            dataset = _dataset(source, entry)
        except DATASET_READ_ERRORS as e:
            path = Path(entry.path)
            errors.append(dataset_failure(source.name, _failed_name(path), path, e))
            continue
        if dataset is not None:
            found.append(dataset)
    check_unique_names(source.name, [(name, origin) for name, _, origin in found], file=str(root))
    return [(name, files) for name, files, _ in found], errors


def _dataset(source: SourceConfig, entry: os.DirEntry) -> tuple[str, FileSet, str] | None:
    """The dataset a top-level entry holds (name, files, origin), or None for no data."""
    path = Path(entry.path)
    if entry.is_file() and (kind := file_kind(path)) is not None:
        name = dataset_name(stem(path, kind), source=source.name, file=entry.path)
        return name, single_file(path, kind), entry.name
    if entry.is_dir() and (files := directory_files(source, path)) is not None:
        name = dataset_name(entry.name, source=source.name, file=entry.path)
        return name, files, f"{entry.name}/"
    return None


def _failed_name(entry: Path) -> str:
    """The dataset name an entry that failed would have had, or the entry's own name."""
    kind = file_kind(entry) if entry.is_file() else None
    try:
        return dataset_name(stem(entry, kind) if kind else entry.name, source="", file="")
    except DiscoveryError:
        return entry.name


def _record(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    name: str,
    files: FileSet,
    fingerprints: list[FileFingerprint],
) -> DatasetRecord:
    found = profile(con, source, files)
    return DatasetRecord(
        source=source.name,
        source_type=SourceType.data_lake,
        dataset_name=name,
        format=files.kind.format,
        location=files.location,
        compression=files.kind.compression,
        partition_keys=files.partition_keys,
        columns=found.columns,
        record_count=found.rows,
        size_bytes=sum(f.size for f in fingerprints),
        file_count=len(fingerprints),
        last_updated=datetime.fromtimestamp(max(f.mtime_ns for f in fingerprints) / 1e9, tz=UTC),
        owner=source.owner,
        quality_score=found.quality,
        profile=found.profile,
        fingerprints=fingerprints,
    )
