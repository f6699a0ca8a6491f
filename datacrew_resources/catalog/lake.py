"""Data lake connector: one dataset per top-level file or directory of a lake.

Layout: `planes.csv` is dataset `planes`; a directory such as
`flights/year=2013/month=1/part-0.parquet` is ONE dataset `flights` whose
partition keys (`year`, `month`) come from the `key=value` directories. Names
starting with `.` or `_` are skipped, as are files of unknown formats
(parquet, csv/tsv, json/jsonl/ndjson; text formats also gzipped, `.csv.gz`,
with the compression recorded). A directory holds one file suffix.

How files are read (footers for parquet, DuckDB's sniffer and one count query
for CSV/JSON) is `datafiles`, shared with the other file-based connectors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ..config import SourceConfig, SourceType
from .datafiles import FileSet, directory_files, file_kind, profile, single_file, stem
from .errors import DiscoveryError
from .models import DatasetRecord
from .names import check_unique_names, dataset_name


def scan_lake(source: SourceConfig, root: Path) -> list[DatasetRecord]:
    """Every dataset under the lake directory `root`, sorted by name."""
    if not root.is_dir():
        raise DiscoveryError(f"source {source.name!r}: lake is not a directory", file=str(root))
    candidates = _find_datasets(source, root.resolve())
    with duckdb.connect() as con:
        return [_record(con, source, name, files) for name, files in candidates]


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


def _record(con: duckdb.DuckDBPyConnection, source: SourceConfig, name: str, files: FileSet) -> DatasetRecord:
    found = profile(con, source, files)
    stats = [p.stat() for p in files.files]
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
        size_bytes=sum(s.st_size for s in stats),
        file_count=len(stats),
        last_updated=datetime.fromtimestamp(max(s.st_mtime for s in stats), tz=UTC),
        owner=source.owner,
        quality_score=found.quality,
    )
