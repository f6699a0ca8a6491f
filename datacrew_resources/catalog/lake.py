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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ..config import SourceConfig, SourceType
from .datafiles import FileSet, directory_files, file_kind, profile, single_file, stem
from .errors import DiscoveryError
from .models import DatasetRecord, FileFingerprint
from .names import check_unique_names, dataset_name


@dataclass(frozen=True)
class LakeScan:
    records: list[DatasetRecord]  # every dataset, sorted by name
    read: list[str]  # datasets whose files were read; the others kept their previous record


def scan_lake(
    source: SourceConfig, root: Path, previous: Mapping[str, DatasetRecord] | None = None
) -> list[DatasetRecord]:
    """Every dataset under the lake directory `root`, sorted by name; `previous` records by dataset name."""
    return read_lake(source, root, previous or {}).records


def read_lake(source: SourceConfig, root: Path, previous: Mapping[str, DatasetRecord]) -> LakeScan:
    """`scan_lake`, telling which datasets were read and which kept their previous record."""
    if not root.is_dir():
        raise DiscoveryError(f"source {source.name!r}: lake is not a directory", file=str(root))
    root = root.resolve()
    records: list[DatasetRecord] = []
    read: list[str] = []
    with duckdb.connect() as con:
        for name, files in _find_datasets(source, root):
            stats = [p.stat() for p in files.files]
            fingerprints = [
                FileFingerprint(path=str(p.relative_to(root)), size=s.st_size, mtime_ns=s.st_mtime_ns)
                for p, s in zip(files.files, stats, strict=True)
            ]
            before = previous.get(name)
            if before is not None and _unchanged(source, files, fingerprints, before):
                records.append(before)
            else:
                records.append(_record(con, source, name, files, fingerprints))
                read.append(name)
    return LakeScan(records, read)


def _unchanged(
    source: SourceConfig, files: FileSet, fingerprints: list[FileFingerprint], before: DatasetRecord
) -> bool:
    """`before` was read from exactly these files, as the source is configured now."""
    return (
        before.fingerprints == fingerprints
        and before.location == files.location
        and before.format == files.kind.format
        and before.partition_keys == files.partition_keys
        and before.owner == source.owner
    )


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))


def _find_datasets(source: SourceConfig, root: Path) -> list[tuple[str, FileSet]]:
    found: list[tuple[str, FileSet, str]] = []
    for entry in sorted(root.iterdir()):
        if _skipped(entry.name):
            continue
        if entry.is_file() and (kind := file_kind(entry)) is not None:
            name = dataset_name(stem(entry, kind), source=source.name, file=str(entry))
            found.append((name, single_file(entry, kind), entry.name))
        elif entry.is_dir() and (files := directory_files(source, entry)) is not None:
            name = dataset_name(entry.name, source=source.name, file=str(entry))
            found.append((name, files, f"{entry.name}/"))
    check_unique_names(source.name, [(name, origin) for name, _, origin in found], file=str(root))
    return [(name, files) for name, files, _ in found]


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
        fingerprints=fingerprints,
    )
