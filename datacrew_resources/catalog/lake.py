"""Data lake connector: one dataset per top-level file or directory of a lake.

Layout: `planes.csv` is dataset `planes`; a directory such as
`flights/year=2013/month=1/part-0.parquet` is ONE dataset `flights` whose
partition keys (`year`, `month`) come from the `key=value` directories. Names
starting with `.` or `_` are skipped, as are files of unknown formats
(parquet, csv, json/jsonl/ndjson). A directory holds one file suffix.

Metadata, not data:
- parquet: row and null counts from every file's footer
  (`pyarrow.parquet.read_metadata`, no data pages); DuckDB type names from
  `DESCRIBE SELECT * FROM read_parquet(glob) LIMIT 0`, which also reads only a
  footer (about 2 ms for a 12-file dataset here) and types the hive partition
  keys exactly as DuckDB will read them later.
- CSV/JSON: types from DuckDB's sniffer on a sample of `SAMPLE_ROWS` rows (its
  default, so the types are the ones a plain `read_csv`/`read_json` gives);
  exact row and non-null counts from one count query over the file. That
  reads the data, which is acceptable for the small text files lakes keep
  beside their parquet, and the catalog promises exact row counts.

Nullability is observed, not declared: a parquet column is non-nullable when
its schema says REQUIRED or every row group's statistics report 0 nulls; a
CSV/JSON column when the count query finds no null; a partition key always
(every file path carries a value).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import SourceConfig, SourceType
from ..config.errors import first_line
from .errors import DiscoveryError
from .models import ColumnInfo, DatasetFormat, DatasetRecord
from .names import check_unique_names, dataset_name
from .quality import completeness

FORMATS: dict[str, DatasetFormat] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
SAMPLE_ROWS = 20_480
_READERS = {"csv": "read_csv", "json": "read_json"}


@dataclass(frozen=True)
class _Candidate:
    name: str
    format: DatasetFormat
    files: list[Path]
    location: str
    partition_keys: list[str]


def scan_lake(source: SourceConfig, root: Path) -> list[DatasetRecord]:
    """Every dataset under the lake directory `root`, sorted by name."""
    if not root.is_dir():
        raise DiscoveryError(f"source {source.name!r}: lake is not a directory", file=str(root))
    candidates = _find_datasets(source, root.resolve())
    with duckdb.connect() as con:
        return [_record(con, source, c) for c in candidates]


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))


def _find_datasets(source: SourceConfig, root: Path) -> list[_Candidate]:
    found: list[tuple[_Candidate, str]] = []
    for entry in sorted(root.iterdir()):
        if _skipped(entry.name):
            continue
        if entry.is_file():
            candidate = _file_dataset(source, entry)
        elif entry.is_dir():
            candidate = _directory_dataset(source, entry)
        else:
            candidate = None
        if candidate is not None:
            found.append((candidate, f"{entry.name}/" if entry.is_dir() else entry.name))
    check_unique_names(source.name, [(c.name, origin) for c, origin in found], file=str(root))
    return [c for c, _ in found]


def _file_dataset(source: SourceConfig, path: Path) -> _Candidate | None:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        return None
    name = dataset_name(path.stem, source=source.name, file=str(path))
    return _Candidate(name, fmt, [path], str(path), [])


def _directory_dataset(source: SourceConfig, directory: Path) -> _Candidate | None:
    # Only suffixes DuckDB's glob will also match: `_SUCCESS` or `.crc` files never count.
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in FORMATS and p.is_file())
    if not files:
        return None
    suffixes = Counter(p.suffix for p in files)
    if len(suffixes) > 1:
        raise DiscoveryError(
            f"source {source.name!r}: directory mixes file types {sorted(suffixes)}",
            file=str(directory),
        )
    keys = _partition_keys(files[0], directory)
    for path in files[1:]:
        if _partition_keys(path, directory) != keys:
            raise DiscoveryError(
                f"source {source.name!r}: partition directories {keys} do not match this file's",
                file=str(path),
            )
    suffix = files[0].suffix
    name = dataset_name(directory.name, source=source.name, file=str(directory))
    return _Candidate(name, FORMATS[suffix.lower()], files, f"{directory}/**/*{suffix}", keys)


def _partition_keys(path: Path, directory: Path) -> list[str]:
    return [part.split("=", 1)[0] for part in path.relative_to(directory).parts[:-1] if "=" in part]


def _record(con: duckdb.DuckDBPyConnection, source: SourceConfig, c: _Candidate) -> DatasetRecord:
    if c.format == "parquet":
        rows, columns, quality = _parquet_profile(con, source, c)
    else:
        rows, columns, quality = _text_profile(con, source, c)
    stats = [p.stat() for p in c.files]
    return DatasetRecord(
        source=source.name,
        source_type=SourceType.data_lake,
        dataset_name=c.name,
        format=c.format,
        location=c.location,
        partition_keys=c.partition_keys,
        columns=columns,
        record_count=rows,
        size_bytes=sum(s.st_size for s in stats),
        file_count=len(stats),
        last_updated=datetime.fromtimestamp(max(s.st_mtime for s in stats), tz=UTC),
        owner=source.owner,
        quality_score=quality,
    )


def _query(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, c: _Candidate, sql: str, params: list
) -> list[tuple]:
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.Error as e:
        raise _read_error(source, c.location, c.format, e) from None


def _read_error(source: SourceConfig, file: str, fmt: str, cause: Exception) -> DiscoveryError:
    return DiscoveryError(f"source {source.name!r}: cannot read {fmt} ({first_line(cause)})", file=file)


def _parquet_profile(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, c: _Candidate
) -> tuple[int, list[ColumnInfo], float | None]:
    rows = 0
    nulls: dict[str, int | None] = {}
    required: set[str] = set()
    for path in c.files:
        try:
            meta = pq.read_metadata(path)
        except (OSError, pa.ArrowException) as e:
            raise _read_error(source, str(path), "parquet footer", e) from None
        rows += meta.num_rows
        _add_null_counts(meta, nulls, required)
    described = _query(
        con,
        source,
        c,
        "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = ?) LIMIT 0",
        [c.location, bool(c.partition_keys)],
    )
    columns = []
    non_null = []
    for name, type_, *_ in described:
        if name in c.partition_keys:
            nullable, known = False, rows
        else:
            count = nulls.get(name)
            nullable = not (name in required or count == 0)
            known = None if count is None else rows - count
        columns.append(ColumnInfo(name=name, type=type_, nullable=nullable))
        if known is not None:
            non_null.append(known)
    return rows, columns, completeness(rows, non_null)


def _add_null_counts(meta: pq.FileMetaData, nulls: dict[str, int | None], required: set[str]) -> None:
    """Sum each top-level column's null count over row groups; None once any group lacks it."""
    schema = meta.schema
    for i in range(meta.num_columns):
        column = schema.column(i)
        if "." in column.path:  # a leaf of a nested column: no top-level null count
            continue
        if column.max_definition_level == 0:
            required.add(column.path)
        total = nulls.get(column.path, 0)
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(i).statistics
            if total is None or stats is None or not stats.has_null_count:
                total = None
                break
            total += stats.null_count
        nulls[column.path] = total


def _text_profile(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, c: _Candidate
) -> tuple[int, list[ColumnInfo], float | None]:
    reader = _READERS[c.format]
    params = [c.location, SAMPLE_ROWS]
    described = _query(con, source, c, f"DESCRIBE SELECT * FROM {reader}(?, sample_size = ?)", params)
    # count(COLUMNS(*)) gives one non-null count per column in the pass that counts rows.
    counted = _query(
        con, source, c, f"SELECT count(*), count(COLUMNS(*)) FROM {reader}(?, sample_size = ?)", params
    )
    rows, non_null = counted[0][0], list(counted[0][1:])
    columns = [
        ColumnInfo(name=row[0], type=row[1], nullable=count < rows)
        for row, count in zip(described, non_null, strict=True)
    ]
    return rows, columns, completeness(rows, non_null)
