"""Streaming landing-zone connector: directories where producers append micro-batch files.

The Kafka Connect / Firehose pattern: each top-level directory of the landing
zone is one stream (one dataset, named after it), holding batch files at any
depth, e.g. `events/2026/11/24/batch-000123.jsonl`. Batches are parquet, CSV
or JSON lines (gzip allowed), one suffix per stream, read as the lake reads a
directory (`datafiles`); `key=value` directories are partition keys. Loose
files at the top and names starting with `.` or `_` (a producer's temporary
files) are skipped.

Batches are ordered by their path below the stream directory, which is how
these producers name them (zero-padded offsets, date directories); the last
one in that order is the stream's position. What a record holds:
- schema, nullability and quality score from a sample: the `sample_batches`
  most recent batches (option, default 3), schemas merged by column name;
- message count: rows over all batches;
- last_updated: the max of the `event_time` column (option) over all batches,
  or, without one, the newest batch's modification time;
- stream_position: the last batch, its size and mtime, and how many batches
  lead up to it.

A rescan resumes: it counts only batches after the position and adds them to
the recorded count and event time, and reads nothing when there are none. It
reads the stream again from the start when the position no longer holds:
the last batch changed or vanished, batches were deleted or arrived out of
order before it (the number up to it differs), or the stream's location,
format or `event_time` option changed. The position is stored in the
catalog record, so it moves in the same transaction as the counts it sums.

A bad stream does not fail the landing zone: an empty, corrupt, truncated or
unreadable batch, a stream mixing file types or lacking the `event_time`
column is a `ScanError` for that stream (one line naming the file or option),
and discovery keeps its previous record, position included, so its batches
are counted once they can be read. Invalid options fail the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from os import stat_result
from pathlib import Path

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlglot import exp

from ..config import ConfigError, SourceConfig, SourceType
from ..config.errors import from_pydantic
from ..config.platform import CONFIG_FILE
from .datafiles import FileSet, directory_files, profile, query, read_options, reader
from .errors import DATASET_READ_ERRORS, DiscoveryError, dataset_failure
from .models import ColumnInfo, DatasetRecord, StreamPosition
from .names import check_unique_names, dataset_name
from .store import ScanError

EVENT_TIME_TYPES = frozenset(
    {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE"}
)


class LandingOptions(BaseModel):
    """`options` of a streaming source whose uri is a directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_time: str | None = Field(default=None, min_length=1, description="column holding each event's time")
    sample_batches: int = Field(default=3, ge=1, description="most recent batches the schema is read from")


def scan_landing_zone(
    source: SourceConfig, root: Path, previous: Mapping[str, DatasetRecord]
) -> tuple[list[DatasetRecord], list[ScanError]]:
    """Every stream under the landing zone `root`, sorted by name, resuming from `previous`
    (this source's records by dataset name), and the streams that could not be read."""
    options = _options(source)
    if not root.is_dir():
        raise DiscoveryError(f"source {source.name!r}: landing zone is not a directory", file=str(root))
    streams, errors = _find_streams(source, root.resolve())
    records = []
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")  # naive event times are read as UTC
        for name, directory, files in streams:
            try:
                records.append(_Stream(con, source, options, name, directory, files).record(previous.get(name)))
            except DATASET_READ_ERRORS as e:
                errors.append(dataset_failure(source.name, name, files.location, e))
    return records, sorted(errors, key=lambda e: e.dataset or "")


def _options(source: SourceConfig) -> LandingOptions:
    try:
        return LandingOptions.model_validate(source.options)
    except ValidationError as e:
        raise from_pydantic(e, file=CONFIG_FILE, prefix=f"sources.{source.name}.options")[0] from None


def _find_streams(source: SourceConfig, root: Path) -> tuple[list[tuple[str, Path, FileSet]], list[ScanError]]:
    """The streams (name, directory, batches), and the stream directories that cannot be one."""
    try:
        entries = sorted(root.iterdir())
    except OSError as e:
        raise DiscoveryError(
            f"source {source.name!r}: cannot list the landing zone ({e.strerror})", file=str(root)
        ) from None
    found = []
    errors = []
    for entry in entries:
        if entry.name.startswith((".", "_")) or not entry.is_dir():
            continue
        try:
            files = directory_files(source, entry)
            if files is not None:
                found.append((dataset_name(entry.name, source=source.name, file=str(entry)), entry, files))
        except DATASET_READ_ERRORS as e:
            errors.append(dataset_failure(source.name, _failed_name(entry), entry, e))
    check_unique_names(source.name, [(name, f"{entry.name}/") for name, entry, _ in found], file=str(root))
    return found, errors


def _failed_name(entry: Path) -> str:
    """The name a stream directory that failed would have had, or the directory's own name."""
    try:
        return dataset_name(entry.name, source="", file="")
    except DiscoveryError:
        return entry.name


@dataclass(frozen=True)
class _Batch:
    path: Path
    relative: str
    stat: stat_result

    @property
    def fingerprint(self) -> str:
        return f"{self.stat.st_size}:{self.stat.st_mtime_ns}"


class _Stream:
    """One stream directory being scanned."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        source: SourceConfig,
        options: LandingOptions,
        name: str,
        directory: Path,
        files: FileSet,
    ):
        self.con, self.source, self.options, self.name, self.files = con, source, options, name, files
        self.batches = [_Batch(p, p.relative_to(directory).as_posix(), p.stat()) for p in files.files]

    def record(self, previous: DatasetRecord | None) -> DatasetRecord:
        resumed = self._resumable(previous)
        read_from = resumed.items if resumed else 0
        new = self.batches[read_from:]
        if resumed and not new:
            columns, quality = previous.columns, previous.quality_score
            rows, last_event = previous.record_count, resumed.last_event_time
        else:
            sample = profile(
                self.con, self.source, self.files, only=[b.path for b in self.batches[-self.options.sample_batches:]]
            )
            columns, quality = sample.columns, sample.quality
            new_rows, new_event = self._count(new, columns)
            rows = (previous.record_count if resumed else 0) + new_rows
            last_event = _latest(resumed.last_event_time if resumed else None, new_event)
        last = self.batches[-1]
        return DatasetRecord(
            source=self.source.name,
            source_type=SourceType.streaming,
            dataset_name=self.name,
            format=self.files.kind.format,
            location=self.files.location,
            compression=self.files.kind.compression,
            partition_keys=self.files.partition_keys,
            columns=columns,
            record_count=rows,
            size_bytes=sum(b.stat.st_size for b in self.batches),
            file_count=len(self.batches),
            last_updated=last_event or self._newest_modification(),
            owner=self.source.owner,
            quality_score=quality,
            stream_position=StreamPosition(
                last=last.relative,
                items=len(self.batches),
                fingerprint=last.fingerprint,
                event_time_column=self.options.event_time,
                last_event_time=last_event,
            ),
        )

    def _resumable(self, previous: DatasetRecord | None) -> StreamPosition | None:
        """The previous position when every batch up to it is still the one counted, else None."""
        position = previous.stream_position if previous else None
        if (
            position is None
            or previous.location != self.files.location
            or previous.format != self.files.kind.format
            or position.event_time_column != self.options.event_time
            or not 0 < position.items <= len(self.batches)
        ):
            return None
        last_read = self.batches[position.items - 1]
        if last_read.relative != position.last or last_read.fingerprint != position.fingerprint:
            return None
        return position

    def _count(self, batches: list[_Batch], columns: list[ColumnInfo]) -> tuple[int, datetime | None]:
        """Rows of `batches`, and their max event time when the option names a column."""
        if not batches:
            return 0, None
        selected = [exp.Count(this=exp.Star())]
        column = self.options.event_time
        if column is not None:
            self._check_event_time(column, columns)
            as_time = exp.cast(exp.column(column, quoted=True), exp.DataType.build("TIMESTAMPTZ"))
            selected.append(exp.Max(this=as_time))
        options, params = read_options(self.files, [str(b.path) for b in batches])
        sql = f"SELECT {', '.join(e.sql(dialect='duckdb') for e in selected)} FROM {reader(self.files)}(?{options})"
        row = query(self.con, self.source, self.files, sql, params)[0]
        return row[0], (row[1].astimezone(UTC) if column is not None and row[1] is not None else None)

    def _check_event_time(self, column: str, columns: list[ColumnInfo]) -> None:
        types = {c.name: c.type for c in columns}
        field = f"sources.{self.source.name}.options.event_time"
        if column not in types:
            raise ConfigError(
                f"stream {self.name!r} has no such column (columns: {', '.join(types)})",
                file=CONFIG_FILE, field=field, value=column,
            )
        if types[column] not in EVENT_TIME_TYPES:
            raise ConfigError(
                f"stream {self.name!r}: column is {types[column]}, not a timestamp or date",
                file=CONFIG_FILE, field=field, value=column,
            )

    def _newest_modification(self) -> datetime:
        return datetime.fromtimestamp(max(b.stat.st_mtime for b in self.batches), tz=UTC)


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None
