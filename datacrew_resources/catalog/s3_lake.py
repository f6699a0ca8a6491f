"""Data lake connector for `s3://bucket/prefix`: the local lake's layout, read from objects.

Under the prefix, `planes.csv` is dataset `planes` and every data object under
`flights/` is ONE dataset `flights`, whose partition keys come from its
`key=value` prefixes (`flights/year=2013/part-0.parquet`); names starting with
`.` or `_` are skipped, as are objects of unknown formats (`datafiles.file_kind`).
The location recorded is the object, or the `s3://bucket/prefix/flights/**/*.parquet` glob.

What is read, through pyarrow's S3 filesystem:
- parquet: each object's footer only (rows, null counts, schema); DuckDB
  names the types of the footer's arrow schema, and of the partition values
  as its hive partitioning would cast them.
- CSV/JSON: the first `options.sample_bytes` of each object (decompressed for
  `.gz`), cut at the last full line and profiled by `datafiles.profile`. A
  sample that holds the whole object counts its rows exactly; otherwise rows are
  estimated from the sample's rows per byte of the object (`rows_exact` false).
The schema is the first object's (in key order), as DuckDB reads a glob.

Incremental: the listing gives every object's ETag (`s3_listing`); the record
keeps each object's ETag, size and what was read from it (`objects`), so a
rescan reads only objects that are new or whose ETag or size changed, and
objects no longer listed drop out of the counts.

Options: `endpoint_url` (a local S3 API, `http://127.0.0.1:9000`), `region`,
`anonymous`, and the NAMES of the environment variables holding the keys
(`access_key_env`, `secret_key_env`, `session_token_env`; AWS's by default);
keys never sit in datacrew.yaml.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import ConfigError, SourceConfig, SourceType
from ..config.errors import first_line
from ..config.platform import CONFIG_FILE
from .datafiles import FileKind, add_null_counts, file_kind, profile, single_file, stem
from .errors import DiscoveryError
from .models import ColumnInfo, DatasetRecord, StoredObject
from .names import check_unique_names, dataset_name
from .quality import completeness
from .s3_listing import Credentials, S3Endpoint, S3ListingError, S3Object, list_objects
from .stream_source import read_options, source_error

SAMPLE_BYTES = 1 << 20
# Objects read at once: a footer or a sample is small, the time goes in round trips.
READ_THREADS = 16
TIMEOUT_SECONDS = 10.0
# Compressed bytes fed to the decompressor at a time while filling a sample.
_CHUNK = 256 << 10


class S3Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str | None = Field(default=None, description="an S3 API other than AWS's, http(s)://host:port")
    region: str = "us-east-1"
    anonymous: bool = Field(default=False, description="read a public bucket without signing")
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str = Field(default="AWS_SESSION_TOKEN", description="used when set")
    sample_bytes: int = Field(default=SAMPLE_BYTES, ge=4096, description="bytes of a CSV/JSON object sampled")

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        parts = urlsplit(value) if value is not None else None
        if parts is not None and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError("must be an http(s) URL with a host, such as http://127.0.0.1:9000")
        return value


@dataclass
class _Dataset:
    """The objects of one dataset, keyed relative to its directory (a single object: by its name)."""

    name: str
    kind: FileKind
    location: str
    objects: dict[str, S3Object] = field(default_factory=dict)
    partition_keys: list[str] = field(default_factory=list)
    partition_values: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def scan_s3_lake(source: SourceConfig, uri: str, previous: Mapping[str, DatasetRecord]) -> list[DatasetRecord]:
    """Every dataset under the `s3://bucket/prefix` uri, sorted by name."""
    options = read_options(source, S3Options)
    parts = urlsplit(uri)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    endpoint = s3_endpoint(source, options)
    try:
        listed = list(list_objects(endpoint, bucket, prefix))
    except S3ListingError as e:
        raise source_error(source, uri, f"cannot list the bucket prefix ({e})") from None
    if not listed:  # S3 has no directories: a prefix with no objects is a misspelt one, or gone
        raise source_error(source, uri, "no objects under this prefix")
    datasets = _group(source, uri, bucket, prefix, listed)
    with ThreadPoolExecutor(READ_THREADS) as pool, duckdb.connect() as con:
        reader = _Reader(source, bucket, options, s3_filesystem(endpoint), pool)
        return [reader.record(con, dataset, previous.get(dataset.name)) for dataset in datasets]


def s3_endpoint(source: SourceConfig, options: S3Options) -> S3Endpoint:
    """Where `source`'s bucket is and how to sign for it (keys from the environment variables its options name)."""
    return S3Endpoint(region=options.region, credentials=_credentials(source, options), url=options.endpoint_url)


def _credentials(source: SourceConfig, options: S3Options) -> Credentials | None:
    if options.anonymous:
        return None
    keys = []
    for option in ("access_key_env", "secret_key_env"):
        name = getattr(options, option)
        if not os.environ.get(name):
            raise ConfigError(
                "environment variable is not set (or set options.anonymous: true)",
                file=CONFIG_FILE, field=f"sources.{source.name}.options.{option}", value=name,
            )
        keys.append(os.environ[name])
    return Credentials(keys[0], keys[1], os.environ.get(options.session_token_env) or None)


def s3_filesystem(endpoint: S3Endpoint) -> pafs.S3FileSystem:
    settings: dict = {
        "region": endpoint.region,
        "connect_timeout": TIMEOUT_SECONDS,
        "request_timeout": TIMEOUT_SECONDS,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=2),
    }
    if endpoint.url is not None:
        parts = urlsplit(endpoint.url)
        settings.update(endpoint_override=parts.netloc, scheme=parts.scheme)
    if endpoint.credentials is None:
        settings["anonymous"] = True
    else:
        credentials = endpoint.credentials
        settings.update(
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            session_token=credentials.session_token,
        )
    return pafs.S3FileSystem(**settings)


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))


def _group(source: SourceConfig, uri: str, bucket: str, prefix: str, listed: list[S3Object]) -> list[_Dataset]:
    """The datasets the listed objects make, sorted by name; objects of no known format are left out."""
    root = f"s3://{bucket}/{prefix}"
    datasets: dict[str, _Dataset] = {}  # by top-level name: the object's or the directory's
    for obj in listed:
        relative = obj.key[len(prefix):]
        top, _, rest = relative.partition("/")
        kind = file_kind(PurePosixPath(relative))
        if _skipped(top) or kind is None or relative.endswith("/"):
            continue
        if not rest:
            name = dataset_name(stem(PurePosixPath(top), kind), source=source.name, file=root + top)
            datasets[top] = _Dataset(name, kind, root + top, {top: obj})
            continue
        dataset = datasets.get(f"{top}/")
        if dataset is None:
            name = dataset_name(top, source=source.name, file=f"{root}{top}/")
            dataset = datasets[f"{top}/"] = _Dataset(name, kind, f"{root}{top}/**/*{kind.suffix}")
        _add_to_directory(source, bucket, dataset, rest, kind, obj)
    check_unique_names(source.name, [(d.name, origin) for origin, d in datasets.items()], file=uri)
    return sorted(datasets.values(), key=lambda d: d.name)


def _add_to_directory(
    source: SourceConfig, bucket: str, dataset: _Dataset, relative: str, kind: FileKind, obj: S3Object
) -> None:
    """Add one object under a dataset's directory, refusing mixed formats and partition layouts."""
    where = f"s3://{bucket}/{obj.key}"
    if kind.suffix != dataset.kind.suffix:
        raise DiscoveryError(
            f"source {source.name!r}: directory mixes file types {sorted({kind.suffix, dataset.kind.suffix})}",
            file=where,
        )
    partitions = [part.split("=", 1) for part in relative.split("/")[:-1] if "=" in part]
    keys = [key for key, _ in partitions]
    if not dataset.objects:
        dataset.partition_keys = keys
    elif keys != dataset.partition_keys:
        raise DiscoveryError(
            f"source {source.name!r}: partition directories {dataset.partition_keys} do not match this object's",
            file=where,
        )
    for key, value in partitions:
        dataset.partition_values[key].add(value)
    dataset.objects[relative] = obj


@dataclass(frozen=True)
class _Read:
    """What one object's read gives: its stored state, and the types of its columns."""

    stored: StoredObject
    columns: list[ColumnInfo]


class _Reader:
    """Reads the objects of a dataset that are new or changed, and sums the dataset up."""

    def __init__(
        self,
        source: SourceConfig,
        bucket: str,
        options: S3Options,
        filesystem: pafs.S3FileSystem,
        pool: ThreadPoolExecutor,
    ):
        self.source, self.bucket, self.options, self.filesystem, self.pool = source, bucket, options, filesystem, pool

    def record(self, con: duckdb.DuckDBPyConnection, dataset: _Dataset, before: DatasetRecord | None) -> DatasetRecord:
        objects = sorted(dataset.objects.items())
        kept = _unchanged(objects, before, dataset.location)
        first = objects[0][0]
        # The schema is the first object's, as DuckDB reads a glob: the record keeps it only if
        # that object was the first one before too.
        schema_kept = before is not None and first in kept and before.objects[0].key == first
        to_read = [(key, obj) for key, obj in objects if key not in kept or (key == first and not schema_kept)]
        fetched = self.pool.map(lambda item: self._fetch(dataset.kind, item[1]), to_read)
        reads = {key: self._profile(con, dataset, key, obj, raw) for (key, obj), raw in zip(to_read, fetched)}
        stored = [reads[key].stored if key in reads else kept[key] for key, _ in objects]
        if first in reads:
            columns = reads[first].columns
        else:
            columns = [c for c in before.columns if c.name not in dataset.partition_keys]
        return self._combine(con, dataset, stored, columns)

    def _combine(
        self, con: duckdb.DuckDBPyConnection, dataset: _Dataset, stored: list[StoredObject], columns: list[ColumnInfo]
    ) -> DatasetRecord:
        nullable = {name for o in stored for name in o.nullable}
        described = [c.model_copy(update={"nullable": c.name in nullable}) for c in columns]
        described += [
            ColumnInfo(name=key, type=_partition_type(con, dataset.partition_values[key]), nullable=False)
            for key in sorted(dataset.partition_keys)  # DuckDB's hive partitioning orders them by name
        ]
        profiled = [(o.profiled_rows, o.quality) for o in stored if o.quality is not None]
        weight = sum(rows for rows, _ in profiled)
        return DatasetRecord(
            source=self.source.name,
            source_type=SourceType.data_lake,
            dataset_name=dataset.name,
            format=dataset.kind.format,
            location=dataset.location,
            compression=dataset.kind.compression,
            partition_keys=dataset.partition_keys,
            columns=described,
            record_count=sum(o.rows for o in stored),
            size_bytes=sum(o.size for o in stored),
            file_count=len(stored),
            last_updated=max(o.last_modified for o in stored),
            owner=self.source.owner,
            quality_score=round(sum(r * q for r, q in profiled) / weight, 4) if weight else None,
            objects=stored,
        )

    def _where(self, obj: S3Object) -> str:
        return f"s3://{self.bucket}/{obj.key}"

    def _fetch(self, kind: FileKind, obj: S3Object) -> pq.FileMetaData | _Sample:
        """The footer of a parquet object, the sample of a text one; run in the pool."""
        if obj.size == 0:
            raise DiscoveryError(f"source {self.source.name!r}: object is empty", file=self._where(obj))
        path = f"{self.bucket}/{obj.key}"
        try:
            if kind.format == "parquet":
                return read_footer(self.filesystem, path)
            return _Sample.read(self.filesystem, path, kind, self.options.sample_bytes, obj.size)
        except (OSError, pa.ArrowException, zlib.error) as e:
            what = "parquet footer" if kind.format == "parquet" else kind.format
            raise DiscoveryError(
                f"source {self.source.name!r}: cannot read {what} ({first_line(e)})", file=self._where(obj)
            ) from None

    def _profile(
        self,
        con: duckdb.DuckDBPyConnection,
        dataset: _Dataset,
        key: str,
        obj: S3Object,
        fetched: pq.FileMetaData | _Sample,
    ) -> _Read:
        partitions = len(dataset.partition_keys)
        if isinstance(fetched, _Sample):
            return self._profile_sample(con, dataset.kind, key, obj, fetched, partitions)
        return _profile_footer(con, key, obj, fetched, partitions)

    def _profile_sample(
        self, con: duckdb.DuckDBPyConnection, kind: FileKind, key: str, obj: S3Object, sample: _Sample, partitions: int
    ) -> _Read:
        where = self._where(obj)
        if not sample.whole and kind.format == "json" and sample.data.lstrip()[:1] == b"[":
            raise DiscoveryError(
                f"source {self.source.name!r}: a JSON array larger than options.sample_bytes"
                f" ({self.options.sample_bytes}) cannot be sampled; raise it or write JSON lines",
                file=where,
            )
        if not sample.data:
            raise DiscoveryError(
                f"source {self.source.name!r}: no complete line in the first {self.options.sample_bytes} bytes",
                file=where,
            )
        # The sample is decompressed already: `.csv.gz` is profiled as `.csv`.
        data_suffix = kind.suffix.rsplit(".", 1)[0] if kind.compression else kind.suffix
        with tempfile.TemporaryDirectory(prefix="datacrew-s3-sample-") as scratch:
            path = Path(scratch) / f"sample{data_suffix}"
            path.write_bytes(sample.data)
            try:
                found = profile(con, self.source, single_file(path, FileKind(data_suffix, kind.format, None)))
            except DiscoveryError as e:
                raise DiscoveryError(e.problem.replace(str(path), where), file=where) from None
        measured = len(found.columns)
        quality = None
        if found.quality is not None:  # partition keys count as complete columns, as in the local lake
            quality = round((found.quality * measured + partitions) / (measured + partitions), 4)
        return _Read(
            StoredObject(
                key=key, etag=obj.etag, size=obj.size, last_modified=obj.last_modified,
                rows=found.rows if sample.whole else round(found.rows / sample.share),
                rows_exact=sample.whole, profiled_rows=found.rows, quality=quality,
                nullable=[c.name for c in found.columns if c.nullable],
            ),
            found.columns,
        )


def _unchanged(
    objects: list[tuple[str, S3Object]], before: DatasetRecord | None, location: str
) -> dict[str, StoredObject]:
    """The stored objects of the previous record whose ETag and size are still those listed."""
    if before is None or before.location != location:
        return {}
    previous = {o.key: o for o in before.objects}
    return {
        key: old
        for key, obj in objects
        if (old := previous.get(key)) is not None and (old.etag, old.size) == (obj.etag, obj.size)
    }


def _profile_footer(
    con: duckdb.DuckDBPyConnection, key: str, obj: S3Object, meta: pq.FileMetaData, partitions: int
) -> _Read:
    nulls: dict[str, int | None] = {}
    required: set[str] = set()
    add_null_counts(meta, nulls, required)
    rows = meta.num_rows
    # DuckDB names the types of the footer's arrow schema as read_parquet would.
    con.register("footer_schema", meta.schema.to_arrow_schema().empty_table())
    try:
        described = con.execute("DESCRIBE SELECT * FROM footer_schema").fetchall()
    finally:
        con.unregister("footer_schema")
    columns = [ColumnInfo(name=name, type=type_) for name, type_, *_ in described]
    known = {  # non-null counts of the columns whose null count the footer gives
        name: rows if name in required else rows - count
        for name, count in nulls.items()
        if count is not None or name in required
    }
    return _Read(
        StoredObject(
            key=key, etag=obj.etag, size=obj.size, last_modified=obj.last_modified,
            rows=rows, profiled_rows=rows,
            quality=completeness(rows, [*known.values(), *[rows] * partitions]),
            nullable=[c.name for c in columns if known.get(c.name) != rows],
        ),
        columns,
    )


def read_footer(filesystem: pafs.S3FileSystem, path: str) -> pq.FileMetaData:
    """The parquet footer of the object at `bucket/key`: ranged reads of its tail, no data pages."""
    with filesystem.open_input_file(path) as handle:
        return pq.read_metadata(handle)


@dataclass(frozen=True)
class _Sample:
    """The first bytes of a text object, decompressed, ending at a full line."""

    data: bytes
    whole: bool  # the sample is the whole object
    share: float  # of the object's stored bytes the sample stands for

    @classmethod
    def read(cls, filesystem: pafs.S3FileSystem, path: str, kind: FileKind, limit: int, size: int) -> _Sample:
        decompressor = zlib.decompressobj(wbits=31) if kind.compression == "gzip" else None
        data, fed = bytearray(), 0
        with filesystem.open_input_stream(path, compression=None) as stream:
            while len(data) <= limit:
                chunk = stream.read(_CHUNK if decompressor else limit + 1 - len(data))
                if not chunk:
                    if decompressor is not None:
                        data += decompressor.flush()
                    if len(data) <= limit:
                        return cls(bytes(data), True, 1.0)
                    break
                fed += len(chunk)
                data += decompressor.decompress(chunk, limit + 1 - len(data)) if decompressor else chunk
        # Stored bytes behind the decompressed ones: what was fed, less what waits undecompressed.
        consumed = fed - (len(decompressor.unconsumed_tail) if decompressor else 0)
        cut = data.rfind(b"\n") + 1
        return cls(bytes(data[:cut]), False, (cut / len(data)) * consumed / size)


def _partition_type(con: duckdb.DuckDBPyConnection, values: set[str]) -> str:
    """The type DuckDB's hive partitioning casts these values to: BIGINT, DATE, TIMESTAMP or VARCHAR."""
    # A cast would round `1.5` to a BIGINT; DuckDB's partitioning keeps it VARCHAR.
    fits = con.execute(
        "SELECT bool_and(regexp_full_match(v, '-?[0-9]+')), bool_and(TRY_CAST(v AS DATE) IS NOT NULL),"
        " bool_and(TRY_CAST(v AS TIMESTAMP) IS NOT NULL) FROM unnest(?::VARCHAR[]) AS t(v)",
        [sorted(values)],
    ).fetchall()[0]
    return next((t for t, ok in zip(("BIGINT", "DATE", "TIMESTAMP"), fits, strict=True) if ok), "VARCHAR")
