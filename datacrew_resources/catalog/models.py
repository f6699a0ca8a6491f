"""What the catalog knows about one discovered dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import SourceType
from ..config.classification import Classification

# Files DuckDB reads (parquet, csv, json), workbooks, warehouse tables, message streams
# read through their servers (NATS JetStream, Redis Streams), PostgreSQL tables and views,
# and HTTP JSON API endpoints.
DatasetFormat = Literal[
    "parquet", "csv", "json", "xlsx", "duckdb_table", "nats_stream", "redis_stream", "postgres_table", "api_json"
]


class ColumnInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str = Field(description="DuckDB type name, e.g. BIGINT, VARCHAR, TIMESTAMP WITH TIME ZONE")
    nullable: bool = True
    description: str = ""
    references: str | None = Field(
        default=None, description="'source/dataset.column' a declared foreign key points to (warehouse tables)"
    )


class StoredObject(BaseModel):
    """One object of an `s3://` dataset as the last scan read it: a rescan reads it again only if its ETag changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(description="object key relative to the dataset's prefix (`year=2013/part-0.parquet`)")
    etag: str
    size: int
    last_modified: datetime
    rows: int = Field(description="rows in the object; estimated from the sample when `rows_exact` is false")
    rows_exact: bool = True
    profiled_rows: int = Field(
        description="rows the quality and nullability were measured on (a sample's for CSV/JSON)"
    )
    quality: float | None = Field(default=None, description="completeness of the profiled rows")
    nullable: list[str] = Field(
        default_factory=list, description="columns with nulls, or with unknown null counts, in the profiled rows"
    )


class FileFingerprint(BaseModel):
    """One file of a local lake dataset as the last scan saw it: a rescan re-reads the dataset only if one changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="relative to the lake directory (`sales/year=2013/part-0.parquet`)")
    size: int
    mtime_ns: int


class StreamPosition(BaseModel):
    """Where the last read of a stream stopped: the next discovery reads only what came after."""

    # Forbidden extras: a connector passing a field this model lacks would otherwise lose it silently.
    model_config = ConfigDict(frozen=True, extra="forbid")

    last: str = Field(
        description="the last item read: a batch file relative to the stream directory (landing"
        " zones), or the last message id or sequence (message streams)"
    )
    items: int = Field(description="items (batch files or messages) up to and including `last`")
    fingerprint: str = Field(
        default="", description="identity of `last` to notice it changed in place (a batch's `size:mtime_ns`)"
    )
    event_time_column: str | None = Field(default=None, description="the `event_time` option it was read with")
    last_event_time: datetime | None = Field(default=None, description="max event time read so far")
    window: list[dict[str, str]] = Field(
        default_factory=list,
        description="message streams: type signatures ({field: DuckDB type}) of the most recent messages,"
        " oldest first, that the schema is read from",
    )


PiiKind = Literal["email", "phone", "card_number", "national_id", "person_name", "address", "date_of_birth"]


class PiiColumn(BaseModel):
    """A column holding personal data, and the evidence for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    kind: PiiKind
    by_name: bool = Field(description="the column's name says it holds this kind")
    value_share: float | None = Field(
        default=None, description="share of the sampled non-empty values matching the kind; None when none were sampled"
    )
    sampled: int = Field(default=0, description="non-empty values sampled from the column")


class Governance(BaseModel):
    """The tutorial's governance block, derived from the source and the PII found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_classification: Classification
    access_level: str = Field(description="who may read it, from the classification (see governance.ACCESS_LEVELS)")
    retention_policy: str = "default"
    compliance_tags: list[str] = Field(default_factory=list, description="gdpr, ccpa, pci_dss")
    pii: list[PiiColumn] = Field(default_factory=list)
    pii_sample: int = Field(default=0, description="the source's options.pii_sample the findings were made with")


class DatasetMetadata(BaseModel):
    """The tutorial's business metadata of a dataset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    domain: str
    owner_team: str
    update_frequency: str = Field(
        default="unknown", description="from the observed updates (hourly, daily...); unknown until seen enough"
    )
    sla_tier: str | None = None
    observed_updates: list[datetime] = Field(
        default_factory=list, description="distinct last_updated values seen by successive scans, oldest first"
    )


# Where a profile figure comes from: a parquet footer's statistics, a sample of values, a query that
# read every row, or a database's planner statistics (PostgreSQL's pg_stats).
ProfileBasis = Literal["footer", "sample", "scan", "statistics"]
# A column's observed extreme as JSON keeps it: numbers as numbers, times and dates as ISO strings.
ProfileValue = Any  # bool | int | float | str | None: as JSON gives them, unvalidated (read 10,000 times a load)


class ColumnProfile(BaseModel):
    """What discovery knows of one column's values without reading them all (see `profile.py`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    null_count: int | None = Field(default=None, description="nulls among the dataset profile's `rows`")
    null_rate: float | None = Field(default=None, description="null_count / rows, rounded to 4 places")
    distinct: int | None = Field(default=None, description="estimated distinct non-null values in the dataset")
    distinct_basis: ProfileBasis | None = None
    min: ProfileValue = Field(default=None, description="smallest value; never kept for a PII column")
    max: ProfileValue = Field(default=None, description="largest value; never kept for a PII column")


class DatasetProfile(BaseModel):
    """Column figures of a dataset and the quality figures discovery derives from them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    basis: ProfileBasis = Field(description="where the null counts and min/max come from")
    rows: int = Field(description="rows the null counts describe (the whole dataset, or the sample)")
    columns: list[ColumnProfile]
    completeness: float | None = Field(default=None, description="non-null share of the measured cells")
    validity: float | None = Field(
        default=None, description="share of the columns with `datasets:` value rules whose profile meets them"
    )
    key_uniqueness: float | None = Field(default=None, description="estimated distinct keys / rows")

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


class DatasetRecord(BaseModel):
    """One dataset: enough to declare its Dagster asset and to read it, without touching data."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="name of the source in datacrew.yaml")
    source_type: SourceType
    dataset_name: str
    description: str = ""
    format: DatasetFormat
    location: str = Field(
        description="absolute file, directory glob (lake, landing zone), DuckDB database file"
        " (warehouse) or stream URL"
    )
    table: str | None = Field(
        default=None, description="schema.table for warehouse datasets, the sheet for xlsx workbooks"
    )
    compression: str | None = Field(default=None, description="of the files themselves: gzip for `.csv.gz`")
    partition_keys: list[str] = Field(default_factory=list)
    primary_key: list[str] = Field(
        default_factory=list, description="declared primary key columns (warehouse tables)"
    )
    columns: list[ColumnInfo]
    record_count: int
    size_bytes: int = 0
    file_count: int = 1
    last_updated: datetime
    owner: str = "team:data-platform"
    quality_score: float | None = Field(
        default=None, description="mean of the profile's completeness, validity and key uniqueness (`profile.py`)"
    )
    profile: DatasetProfile | None = Field(default=None, description="column figures; None where not profiled")
    stream_position: StreamPosition | None = None
    objects: list[StoredObject] = Field(
        default_factory=list, description="`s3://` datasets: each object's ETag, size and what was read from it"
    )
    fingerprints: list[FileFingerprint] = Field(
        default_factory=list, description="local lake datasets: each file's size and mtime the record was read at"
    )
    change_marker: str | None = Field(
        default=None,
        description="what tells a rescan whether the data changed without reading it (a PostgreSQL"
        " table's count of rows inserted, updated and deleted); a different marker dates last_updated"
        " to that rescan",
    )
    governance: Governance | None = Field(default=None, description="set by discovery after the scan")
    metadata: DatasetMetadata | None = Field(default=None, description="set by discovery after the scan")

    @property
    def asset_key(self) -> list[str]:
        return [self.source, self.dataset_name]

    @property
    def key_string(self) -> str:
        return f"{self.source}/{self.dataset_name}"
