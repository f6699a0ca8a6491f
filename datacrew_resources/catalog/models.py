"""What the catalog knows about one discovered dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import SourceType

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
    quality_score: float | None = None
    stream_position: StreamPosition | None = None
    change_marker: str | None = Field(
        default=None,
        description="what tells a rescan whether the data changed without reading it (a PostgreSQL"
        " table's count of rows inserted, updated and deleted); a different marker dates last_updated"
        " to that rescan",
    )

    @property
    def asset_key(self) -> list[str]:
        return [self.source, self.dataset_name]

    @property
    def key_string(self) -> str:
        return f"{self.source}/{self.dataset_name}"
