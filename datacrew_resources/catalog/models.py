"""What the catalog knows about one discovered dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import SourceType

DatasetFormat = Literal["parquet", "csv", "json", "duckdb_table"]


class ColumnInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    type: str = Field(description="DuckDB type name, e.g. BIGINT, VARCHAR, TIMESTAMP WITH TIME ZONE")
    nullable: bool = True
    description: str = ""


class DatasetRecord(BaseModel):
    """One dataset: enough to declare its Dagster asset and to read it, without touching data."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="name of the source in datacrew.yaml")
    source_type: SourceType
    dataset_name: str
    description: str = ""
    format: DatasetFormat
    location: str = Field(
        description="absolute file, directory glob (lake) or DuckDB database file (warehouse)"
    )
    table: str | None = Field(default=None, description="schema.table for warehouse datasets")
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

    @property
    def asset_key(self) -> list[str]:
        return [self.source, self.dataset_name]

    @property
    def key_string(self) -> str:
        return f"{self.source}/{self.dataset_name}"
