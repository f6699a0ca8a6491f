"""Data files as discovery reads them: format from the name, schema and counts from DuckDB.

Shared by the file-based connectors (lake, file share, streaming landing zone).
A name's data suffix gives the format and compression: `flights.parquet`,
`planes.tsv`, `orders.CSV.gz` (gzip, which DuckDB's readers decompress by the
same suffix). A dataset is one file, or every data file under a directory
(`FileSet`), whose `key=value` directories are hive partition keys.

Metadata, not data:
- parquet: row and null counts from every file's footer
  (`pyarrow.parquet.read_metadata`, no data pages); DuckDB type names from
  those footers when every column is flat and of a type whose DuckDB name is
  known for certain (`footer_types`) and all files agree, else from
  `DESCRIBE SELECT * FROM read_parquet(...) LIMIT 0`, which also reads only a
  footer and types the hive partition keys exactly as DuckDB will read them.
- CSV/JSON: types from DuckDB's sniffer on a sample of `SAMPLE_ROWS` rows (its
  default, so the types are the ones a plain `read_csv`/`read_json` gives);
  exact row and non-null counts from one count query over the files.

Nullability is observed, not declared: a parquet column is non-nullable when
its schema says REQUIRED or every row group's statistics report 0 nulls; a
CSV/JSON column when the count query finds no null; a partition key always.

Bad files fail with a one-line `DiscoveryError` naming the file: an empty file,
and a ragged CSV, which DuckDB's sniffer would otherwise read wrongly without
complaint (see `_check_dialect`).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..config import SourceConfig
from ..config.errors import first_line
from .errors import DiscoveryError
from .models import ColumnInfo, DatasetFormat
from .quality import completeness

FORMATS: dict[str, DatasetFormat] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
# Outer suffixes of compressed text files; parquet compresses inside the file.
COMPRESSIONS = {".gz": "gzip"}
SAMPLE_ROWS = 20_480
_READERS = {"csv": "read_csv", "json": "read_json"}
# Delimiters a CSV header is tried with when the sniffer found a single column.
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class FileKind:
    suffix: str  # the data suffix as written in the name, e.g. `.csv.gz`
    format: DatasetFormat
    compression: str | None


def file_kind(path: Path) -> FileKind | None:
    """The format and compression `path`'s name declares (`.CSV.gz`: csv, gzip), or None."""
    suffixes = path.suffixes[-2:]
    compression = COMPRESSIONS.get(suffixes[-1].lower()) if suffixes else None
    data_suffixes = suffixes if compression else suffixes[-1:]
    if len(data_suffixes) != (2 if compression else 1):
        return None
    fmt = FORMATS.get(data_suffixes[0].lower())
    if fmt is None or (compression and fmt == "parquet"):
        return None
    return FileKind("".join(data_suffixes), fmt, compression)


def stem(path: Path, kind: FileKind) -> str:
    """The name without its data suffix: `Orders 2024.csv.gz` -> `Orders 2024`."""
    return path.name[: -len(kind.suffix)]


@dataclass(frozen=True)
class FileSet:
    """The files of one dataset: one file, or every data file under a directory."""

    kind: FileKind
    files: list[Path]  # sorted by path
    location: str  # the file, or the `<directory>/**/*<suffix>` glob DuckDB reads
    partition_keys: list[str]


def single_file(path: Path, kind: FileKind) -> FileSet:
    return FileSet(kind, [path], str(path), [])


def directory_files(source: SourceConfig, directory: Path) -> FileSet | None:
    """Every data file under `directory` (one suffix, one partition layout), or None if none."""
    # Only suffixes DuckDB's glob will also match: `_SUCCESS` or `.crc` files never count.
    kinds: dict[Path, FileKind] = {}
    for path in sorted(directory.rglob("*")):
        kind = file_kind(path)
        if kind is not None and path.is_file():
            kinds[path] = kind
    if not kinds:
        return None
    suffixes = Counter(k.suffix for k in kinds.values())
    if len(suffixes) > 1:
        raise DiscoveryError(
            f"source {source.name!r}: directory mixes file types {sorted(suffixes)}", file=str(directory)
        )
    files = list(kinds)
    keys = _partition_keys(files[0], directory)
    for path in files[1:]:
        if _partition_keys(path, directory) != keys:
            raise DiscoveryError(
                f"source {source.name!r}: partition directories {keys} do not match this file's",
                file=str(path),
            )
    kind = kinds[files[0]]
    return FileSet(kind, files, f"{directory}/**/*{kind.suffix}", keys)


def _partition_keys(path: Path, directory: Path) -> list[str]:
    return [part.split("=", 1)[0] for part in path.relative_to(directory).parts[:-1] if "=" in part]


@dataclass(frozen=True)
class Profile:
    rows: int
    columns: list[ColumnInfo]
    quality: float | None


def profile(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    files: FileSet,
    *,
    only: Sequence[Path] | None = None,
) -> Profile:
    """Rows, columns and completeness of the file set, or of `only` some of its files.

    With `only`, files are read by name, their schemas merged by column name
    (a stream's batches may add fields).
    """
    chosen = list(files.files if only is None else only)
    target: str | list[str] = files.location if only is None else [str(p) for p in chosen]
    if files.kind.format == "parquet":
        return _parquet_profile(con, source, files, chosen, target)
    # DuckDB reads an empty text file as one empty column; pyarrow names an empty parquet file.
    for path in chosen:
        if path.stat().st_size == 0:
            raise DiscoveryError(f"source {source.name!r}: file is empty", file=str(path))
    return _text_profile(con, source, files, chosen, target)


def read_options(files: FileSet, target: str | list[str]) -> tuple[str, list]:
    """The reader arguments after the file argument, and all parameters, for `target`."""
    options = ", hive_partitioning = ?"
    params: list = [target, bool(files.partition_keys)]
    if isinstance(target, list):
        options += ", union_by_name = true"
    if files.kind.format != "parquet":
        options += ", sample_size = ?"
        params.append(SAMPLE_ROWS)
    return options, params


def reader(files: FileSet) -> str:
    return "read_parquet" if files.kind.format == "parquet" else _READERS[files.kind.format]


def query(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, files: FileSet, sql: str, params: list
) -> list[tuple]:
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.Error as e:
        raise _read_error(source, files.location, files.kind.format, e) from None


def _read_error(source: SourceConfig, file: str, fmt: str, cause: Exception) -> DiscoveryError:
    return DiscoveryError(f"source {source.name!r}: cannot read {fmt} ({first_line(cause)})", file=file)


# DuckDB's name for a parquet column's (physical type, logical type), where it does not depend
# on the logical type's parameters; checked against DuckDB's DESCRIBE in tests/catalog/test_lake.py.
_PARQUET_TYPES = {
    ("BOOLEAN", "NONE"): "BOOLEAN",
    ("INT32", "NONE"): "INTEGER",
    ("INT64", "NONE"): "BIGINT",
    ("FLOAT", "NONE"): "FLOAT",
    ("DOUBLE", "NONE"): "DOUBLE",
    ("BYTE_ARRAY", "NONE"): "BLOB",
    ("BYTE_ARRAY", "STRING"): "VARCHAR",
    ("INT32", "DATE"): "DATE",
}
_INT_TYPES = {
    (8, True): "TINYINT", (16, True): "SMALLINT", (32, True): "INTEGER", (64, True): "BIGINT",
    (8, False): "UTINYINT", (16, False): "USMALLINT", (32, False): "UINTEGER", (64, False): "UBIGINT",
}
_TIMESTAMP_UNITS = {"milliseconds", "microseconds"}  # both read as microseconds; nanoseconds keep theirs
_MAX_DECIMAL_PRECISION = 38


def _duckdb_type(column: pq.ColumnSchema) -> str | None:
    """The type DuckDB reads a flat parquet column as, or None where not known for certain."""
    if "." in column.path:  # a leaf of a nested column (list, struct, map)
        return None
    logical = column.logical_type
    known = _PARQUET_TYPES.get((column.physical_type, logical.type))
    if known is not None or logical.type not in {"INT", "TIMESTAMP", "DECIMAL"}:
        return known
    detail = json.loads(logical.to_json())
    if logical.type == "INT":
        return _INT_TYPES.get((detail["bitWidth"], detail["isSigned"]))
    if logical.type == "TIMESTAMP":
        if detail["timeUnit"] not in _TIMESTAMP_UNITS:
            return None
        return "TIMESTAMP WITH TIME ZONE" if detail["isAdjustedToUTC"] else "TIMESTAMP"
    if 0 < column.precision <= _MAX_DECIMAL_PRECISION:
        return f"DECIMAL({column.precision},{column.scale})"
    return None


def footer_types(meta: pq.FileMetaData) -> list[tuple[str, str]] | None:
    """Column names and DuckDB types from a parquet footer, or None if any type is not known for certain."""
    named = []
    for i in range(meta.num_columns):
        column = meta.schema.column(i)
        type_ = _duckdb_type(column)
        if type_ is None:
            return None
        named.append((column.path, type_))
    # DuckDB's names are case-insensitive: it renames one of `id` and `ID`.
    if len({name.lower() for name, _ in named}) < len(named):
        return None
    return named


def _parquet_profile(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    files: FileSet,
    chosen: list[Path],
    target: str | list[str],
) -> Profile:
    rows = 0
    nulls: dict[str, int | None] = {}
    required: set[str] = set()
    typed: set[tuple[tuple[str, str], ...] | None] = set()
    for path in chosen:
        try:
            meta = pq.read_metadata(path)
        except (OSError, pa.ArrowException) as e:
            raise _read_error(source, str(path), "parquet footer", e) from None
        rows += meta.num_rows
        add_null_counts(meta, nulls, required)
        if not files.partition_keys and len(typed) < 2:
            footer = footer_types(meta)
            typed.add(None if footer is None else tuple(footer))
    if len(typed) == 1 and None not in typed:
        # Every file has one schema of known types: what DESCRIBE would say, without another read.
        described = list(typed.pop())
    else:
        # Hive partition keys (typed from the directory names), nested or unusual types,
        # or files that differ: DuckDB itself says how it reads them.
        options, params = read_options(files, target)
        described = query(con, source, files, f"DESCRIBE SELECT * FROM read_parquet(?{options}) LIMIT 0", params)
    columns = []
    non_null = []
    for name, type_, *_ in described:
        if name in files.partition_keys:
            nullable, known = False, rows
        else:
            count = nulls.get(name)
            nullable = not (name in required or count == 0)
            known = None if count is None else rows - count
        columns.append(ColumnInfo(name=name, type=type_, nullable=nullable))
        if known is not None:
            non_null.append(known)
    return Profile(rows, columns, completeness(rows, non_null))


def add_null_counts(meta: pq.FileMetaData, nulls: dict[str, int | None], required: set[str]) -> None:
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
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    files: FileSet,
    chosen: list[Path],
    target: str | list[str],
) -> Profile:
    options, params = read_options(files, target)
    read = f"{reader(files)}(?{options})"
    described = query(con, source, files, f"DESCRIBE SELECT * FROM {read}", params)
    if files.kind.format == "csv":
        _check_dialect(con, source, files, chosen[0])
    # count(COLUMNS(*)) gives one non-null count per column in the pass that counts rows.
    counted = query(con, source, files, f"SELECT count(*), count(COLUMNS(*)) FROM {read}", params)
    rows, non_null = counted[0][0], list(counted[0][1:])
    columns = [
        ColumnInfo(name=row[0], type=row[1], nullable=count < rows)
        for row, count in zip(described, non_null, strict=True)
    ]
    return Profile(rows, columns, completeness(rows, non_null))


def _check_dialect(con: duckdb.DuckDBPyConnection, source: SourceConfig, files: FileSet, path: Path) -> None:
    """Refuse a ragged CSV, which DuckDB's sniffer reads without complaint but wrongly.

    On rows of unequal width the sniffer falls back to a dialect that fits: one
    column holding whole lines, or skipping the lines before the widest rows
    (the header among them). Only those two outcomes make us read the file in
    Python, up to its first line whose width differs from the header's; a
    preamble of one-field lines (a title above the header) is no such line.
    """
    skip_rows, width = query(
        con, source, files, "SELECT SkipRows, len(Columns) FROM sniff_csv(?, sample_size = ?)",
        [str(path), SAMPLE_ROWS],
    )[0]
    if skip_rows or width == 1:
        _refuse_ragged(source, path, files.kind)


def _refuse_ragged(source: SourceConfig, path: Path, kind: FileKind) -> None:
    with _open_text(path, kind) as handle:
        header = handle.readline()
        for delimiter in _DELIMITERS:
            width = len(next(csv.reader([header], delimiter=delimiter), []))
            if width < 2:
                continue
            handle.seek(0)
            for number, fields in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
                if fields and len(fields) != width:
                    raise DiscoveryError(
                        f"source {source.name!r}: ragged CSV: line {number} has {len(fields)} fields,"
                        f" the header has {width} (delimiter {delimiter!r})",
                        file=str(path),
                    )
            return


def _open_text(path: Path, kind: FileKind) -> TextIO:
    if kind.compression == "gzip":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")
