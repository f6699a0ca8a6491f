"""Data files as discovery reads them: format from the name, schema and counts from DuckDB.

Shared by the file-based connectors (lake, file share, streaming landing zone).
A name's data suffix gives the format and compression: `flights.parquet`,
`planes.tsv`, `orders.CSV.gz` (gzip, which DuckDB's readers decompress by the
same suffix). A dataset is one file, or every data file under a directory
(`FileSet`), whose `key=value` directories are hive partition keys.

Metadata, not data:
- parquet: row counts and the profile (null counts, min/max, distinct counts
  where written) from every file's footer (`pyarrow.parquet.read_metadata`,
  no data pages); DuckDB type names from those footers when every column is
  flat and of a type whose DuckDB name is known for certain (`footer_types`)
  and all files agree, with hive partition keys typed from the directory
  names as DuckDB's `hive_types_autocast` types them (`hive_types`) where
  that is certain; else from `DESCRIBE SELECT * FROM read_parquet(...) LIMIT 0`,
  which also reads only a footer.
- CSV/JSON: types from DuckDB's sniffer on a sample of `SAMPLE_ROWS` rows (its
  default, so the types are the ones a plain `read_csv`/`read_json` gives);
  exact row counts and the profile (non-null counts, min, max, distinct
  counts) from one aggregate query over the files.

Nullability is observed, not declared: a parquet column is non-nullable when
its schema says REQUIRED or every row group's statistics report 0 nulls; a
CSV/JSON column when the count query finds no null; a partition key always.

Bad files fail with a one-line `DiscoveryError` naming the file: an empty file,
and a ragged CSV, which DuckDB's sniffer would otherwise read wrongly without
complaint (see `_check_dialect`).
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow._parquet import ParquetReader

from ..config import SourceConfig
from ..config.errors import first_line
from .errors import DiscoveryError
from .models import ColumnInfo, ColumnProfile, DatasetFormat, DatasetProfile
from .profile import column_profile
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
# Text files up to this size count distinct values exactly (a million rows of 64 bytes); larger, DuckDB estimates.
EXACT_DISTINCT_BYTES = 64 * 2**20
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
    for path in sorted(_files_under(directory), key=_parts):
        kind = file_kind(path)
        if kind is not None:
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


def _files_under(directory: Path) -> list[Path]:
    """Every file at any depth, as `os.walk` finds them (symlinked directories not followed) less
    what is no file (`Path.is_file`); an unreadable directory raises, where `rglob` would hide its
    files. `os.scandir`'s entry types spare a `stat` per file."""
    files: list[Path] = []
    pending = [str(directory)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir():
                    if not entry.is_symlink():
                        pending.append(entry.path)
                elif entry.is_file():
                    files.append(Path(entry.path))
    return files


def _parts(path: Path) -> tuple[str, ...]:
    """The sort key of `Path` order, without `Path`'s comparisons."""
    return tuple(str(path).split(os.sep))


def _partition_keys(path: Path, directory: Path) -> list[str]:
    relative = str(path)[len(str(directory)) + 1 :]  # `path` was found under `directory`
    return [part.split("=", 1)[0] for part in relative.split(os.sep)[:-1] if "=" in part]


@dataclass(frozen=True)
class Profile:
    rows: int
    columns: list[ColumnInfo]
    quality: float | None  # completeness
    profile: DatasetProfile


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


@functools.lru_cache(maxsize=256)  # a lake has few distinct logical types, read in every footer
def logical_detail(text: str) -> dict:
    """A parquet logical type's parameters (`LogicalType.to_json()` parsed)."""
    return json.loads(text)


def _duckdb_type(column: pq.ColumnSchema) -> str | None:
    """The type DuckDB reads a flat parquet column as, or None where not known for certain."""
    if "." in column.path:  # a leaf of a nested column (list, struct, map)
        return None
    logical = column.logical_type
    known = _PARQUET_TYPES.get((column.physical_type, logical.type))
    if known is not None or logical.type not in {"INT", "TIMESTAMP", "DECIMAL"}:
        return known
    detail = logical_detail(logical.to_json())
    if logical.type == "INT":
        return _INT_TYPES.get((detail["bitWidth"], detail["isSigned"]))
    if logical.type == "TIMESTAMP":
        if detail["timeUnit"] not in _TIMESTAMP_UNITS:
            return None
        return "TIMESTAMP WITH TIME ZONE" if detail["isAdjustedToUTC"] else "TIMESTAMP"
    if 0 < column.precision <= _MAX_DECIMAL_PRECISION:
        return f"DECIMAL({column.precision},{column.scale})"
    return None


def parquet_reader(path: Path) -> ParquetReader:
    """The file opened, its footer read: `pq.read_metadata` and `pq.ParquetFile` do the same and
    then map nested column paths in Python, which costs them twice as long again."""
    reader = ParquetReader()
    reader.open(str(path), pre_buffer=False)
    return reader


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
    figures = FooterFigures()
    typed: set[tuple[tuple[str, str], ...] | None] = set()
    for path in chosen:
        try:
            meta = parquet_reader(path).metadata
        except (OSError, pa.ArrowException) as e:
            raise _read_error(source, str(path), "parquet footer", e) from None
        rows += meta.num_rows
        figures.add(meta)
        if len(typed) < 2:
            footer = footer_types(meta)
            typed.add(None if footer is None else tuple(footer))
    partitions = partition_values(files, chosen)
    keys = hive_types(partitions) if files.partition_keys else {}
    footer = list(typed.pop()) if len(typed) == 1 and None not in typed else None
    clash = footer is not None and {n.lower() for n, _ in footer} & {k.lower() for k in files.partition_keys}
    if footer is not None and keys is not None and not clash:
        # Every file has one schema of known types: what DESCRIBE would say, without another read.
        # DuckDB appends the keys in name order (a std::map), whatever their order in the path.
        described = footer + [(key, keys[key]) for key in sorted(files.partition_keys)]
    else:
        # Nested or unusual types, files that differ, or partition values whose type DuckDB's
        # inference gives in ways not mirrored here: DuckDB itself says how it reads them.
        options, params = read_options(files, target)
        described = query(con, source, files, f"DESCRIBE SELECT * FROM read_parquet(?{options}) LIMIT 0", params)
    columns = []
    profiles = []
    for name, type_, *_ in described:
        if name in files.partition_keys:
            values = partitions[name]
            nullable, nulls = False, 0
            typed_values = [_typed_key(v, type_) for v in values]
            ordered = sorted(v for v in typed_values if v is not None)
            profiles.append(
                column_profile(name, rows, 0, distinct=len(set(values)), basis="scan",
                               low=ordered[0] if ordered else None, high=ordered[-1] if ordered else None)
            )
        else:
            nulls = figures.nulls.get(name)
            nullable = not (name in figures.required or nulls == 0)
            profiles.append(figures.column(name, rows))
        columns.append(ColumnInfo(name=name, type=type_, nullable=nullable))
    profile = DatasetProfile(basis="footer", rows=rows, columns=profiles)
    measured = [rows - c.null_count for c in profiles if c.null_count is not None]
    return Profile(rows, columns, completeness(rows, measured), profile)


@dataclass
class FooterFigures:
    """Null counts, extremes and written distinct counts of the flat columns, over footers."""

    nulls: dict[str, int | None] = field(default_factory=dict)  # None once a row group lacks it
    required: set[str] = field(default_factory=set)
    low: dict[str, object] = field(default_factory=dict)
    high: dict[str, object] = field(default_factory=dict)
    distinct: dict[str, list[int] | None] = field(default_factory=dict)  # per row group, None once one lacks it

    def add(self, meta: pq.FileMetaData) -> None:
        schema = meta.schema
        groups = [meta.row_group(g) for g in range(meta.num_row_groups)]
        for i in range(meta.num_columns):
            column = schema.column(i)
            name = column.path
            if "." in name:  # a leaf of a nested column: no top-level figures
                continue
            if column.max_definition_level == 0:
                self.required.add(name)
            nulls = self.nulls.get(name, 0)
            counts = self.distinct.setdefault(name, [])
            low, high = self.low.get(name), self.high.get(name)
            raw = _raw_value(column)
            for group in groups:
                stats = group.column(i).statistics
                if stats is None:
                    nulls = counts = None
                    low = high = _UNKNOWN
                    continue
                if nulls is not None:
                    nulls = nulls + stats.null_count if stats.has_null_count else None
                if counts is not None:
                    counts = counts + [stats.distinct_count] if stats.has_distinct_count else None
                if stats.has_min_max:
                    lowest, highest = (raw(stats.min_raw), raw(stats.max_raw)) if raw else (stats.min, stats.max)
                    low, high = _extreme(low, lowest, min), _extreme(high, highest, max)
                elif not stats.has_null_count or stats.null_count != group.num_rows:  # values, no extremes
                    low = high = _UNKNOWN
            self.nulls[name], self.distinct[name], self.low[name], self.high[name] = nulls, counts, low, high

    def column(self, name: str, rows: int) -> ColumnProfile:
        counts = self.distinct.get(name)
        # A written count is exact for its row group; over several groups, whose values may
        # repeat, it says too little, and the value sample estimates it instead.
        distinct = counts[0] if counts is not None and len(counts) == 1 else None
        low, high = self.low.get(name), self.high.get(name)
        return column_profile(
            name, rows, self.nulls.get(name), distinct=distinct, basis="footer",
            low=None if low is _UNKNOWN else low, high=None if high is _UNKNOWN else high,
        )


_UNKNOWN = object()  # an extreme some row group's statistics do not give
_EPOCH = datetime(1970, 1, 1)
_TIME_UNITS = {"milliseconds": 1_000, "microseconds": 1, "nanoseconds": 0.001}


def _raw_value(column: pq.ColumnSchema):
    """How a footer's raw (physical) extreme becomes the column's value, or None to let pyarrow
    convert it: its conversion of timestamps imports pandas (2 s) and costs ten times more."""
    logical = column.logical_type.type
    if logical == "NONE" and column.physical_type in ("INT32", "INT64", "FLOAT", "DOUBLE", "BOOLEAN"):
        return _same
    if logical == "STRING":
        return _utf8
    if logical == "DATE":
        return lambda days: (_EPOCH + timedelta(days=days)).date()
    if logical == "TIMESTAMP" and column.physical_type == "INT64":
        detail = logical_detail(column.logical_type.to_json())
        per_micro = _TIME_UNITS[detail["timeUnit"]]
        zone = UTC if detail["isAdjustedToUTC"] else None
        return lambda ticks: (_EPOCH + timedelta(microseconds=ticks * per_micro)).replace(tzinfo=zone)
    return None


def _same(value: object) -> object:
    return value


def _utf8(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _extreme(current: object, value: object, pick) -> object:
    if current is _UNKNOWN:
        return _UNKNOWN
    if current is None:
        return value
    try:
        return pick(current, value)
    except TypeError:  # files disagree on the column's type
        return _UNKNOWN


def partition_values(files: FileSet, chosen: Sequence[Path]) -> dict[str, list[str]]:
    """Each hive partition key's value in each chosen file's path, in file order."""
    if not files.partition_keys:
        return {}
    root = Path(files.location).parent.parent  # `<directory>/**/*<suffix>`
    found: dict[str, list[str]] = {key: [] for key in files.partition_keys}
    for path in chosen:
        for part in path.relative_to(root).parts[:-1]:
            key, sep, value = part.partition("=")
            if sep and key in found:
                found[key].append(value)
    return found


# DuckDB's hive_types_autocast tries DATE, TIMESTAMP, BIGINT in turn on every value of a key, and
# takes VARCHAR when none casts or the values disagree. Only the shapes below are decided here;
# any other value (an hour, `NULL`, an escape, a number beyond 18 digits) leaves it to DESCRIBE.
_HIVE_BIGINT = re.compile(r"-?(?:0|[1-9]\d{0,17})")  # `007` and `+5` stay text in DuckDB 2.0
_HIVE_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_HIVE_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Words DuckDB casts to dates and timestamps (and case variants of them).
_DATE_WORDS = frozenset({"infinity", "inf", "epoch", "nan", "null"})


def hive_types(partitions: dict[str, list[str]]) -> dict[str, str] | None:
    """The DuckDB type of each partition key, or None if any value's type is not certain."""
    types = {}
    for key, values in partitions.items():
        found = {_hive_type(v) for v in set(values)}
        if None in found or not found:
            return None
        types[key] = found.pop() if len(found) == 1 else "VARCHAR"
    return types


def _hive_type(value: str) -> str | None:
    if _HIVE_BIGINT.fullmatch(value):
        return "BIGINT"
    if (match := _HIVE_DATE.fullmatch(value)) is not None:
        try:
            date(*map(int, match.groups()))
        except ValueError:
            return None
        return "DATE"
    if _HIVE_TEXT.fullmatch(value) and value.lower() not in _DATE_WORDS:
        return "VARCHAR"
    return None


def _typed_key(value: str, type_: str) -> object:
    if type_ == "BIGINT" and _HIVE_BIGINT.fullmatch(value):
        return int(value)
    return value if type_ in ("VARCHAR", "DATE") else None


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
    # One pass: rows, and per column the non-null count, min, max and distinct count.
    exact = sum(p.stat().st_size for p in chosen) <= EXACT_DISTINCT_BYTES
    distinct = "count(DISTINCT COLUMNS(*))" if exact else "approx_count_distinct(COLUMNS(*))"
    counted = query(
        con, source, files,
        f"SELECT count(*), count(COLUMNS(*)), min(COLUMNS(*)), max(COLUMNS(*)), {distinct} FROM {read}", params,
    )[0]
    width = len(described)
    rows = counted[0]
    non_null, lows, highs, distincts = (list(counted[1 + k * width: 1 + (k + 1) * width]) for k in range(4))
    columns = [
        ColumnInfo(name=row[0], type=row[1], nullable=count < rows)
        for row, count in zip(described, non_null, strict=True)
    ]
    profiles = [
        column_profile(row[0], rows, rows - count, distinct=d, basis="scan", low=low, high=high)
        for row, count, low, high, d in zip(described, non_null, lows, highs, distincts, strict=True)
    ]
    profile = DatasetProfile(basis="scan", rows=rows, columns=profiles)
    return Profile(rows, columns, completeness(rows, non_null), profile)


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
