"""Discovered datasets as external Dagster assets, built from the catalog store."""

from __future__ import annotations

import dagster as dg

from datacrew_resources.catalog.governance import governance_json
from datacrew_resources.catalog.models import DatasetRecord

from .metadata import column_schema

SOURCE_KIND = {
    "data_lake": "datalake",
    "data_warehouse": "warehouse",
    "streaming": "streaming",
    "api_endpoints": "api",
    "file_systems": "fileshare",
}


def discovered_asset_spec(*, record: DatasetRecord) -> dg.AssetSpec:
    """One external asset: schema, rows, owner, storage and freshness, no compute."""
    metadata = {
        "dagster/column_schema": column_schema(record.columns),
        "dagster/row_count": record.record_count,
        "dagster/uri": record.location,
        "dagster/table_name": record.table or record.dataset_name,
        "datacrew/last_updated": dg.TimestampMetadataValue(record.last_updated.timestamp()),
        "datacrew/size_bytes": record.size_bytes,
        "datacrew/file_count": record.file_count,
    }
    if record.partition_keys:
        metadata["datacrew/partition_keys"] = ", ".join(record.partition_keys)
    if record.quality_score is not None:
        metadata["datacrew/quality_score"] = float(record.quality_score)
    tags = {"datacrew/source_type": record.source_type.value}
    if record.governance is not None:
        metadata["datacrew/governance"] = dg.JsonMetadataValue(governance_json(record))
        tags["datacrew/classification"] = record.governance.data_classification
        tags["datacrew/pii"] = "true" if record.governance.pii else "false"
    description = record.description or (
        f"{record.dataset_name} discovered in source '{record.source}' ({record.source_type.value})"
    )
    return dg.AssetSpec(
        key=record.asset_key,
        description=description,
        group_name=record.source,
        owners=[record.owner],
        kinds={SOURCE_KIND[record.source_type.value], _storage_kind(record)},
        metadata=metadata,
        tags=tags,
    )


# Formats whose kind is the system holding them rather than the format's own name.
STORAGE_KIND = {
    "duckdb_table": "duckdb", "nats_stream": "nats", "redis_stream": "redis",
    "postgres_table": "postgres", "api_json": "json",
}


def _storage_kind(record: DatasetRecord) -> str:
    return STORAGE_KIND.get(record.format, record.format)


def discovered_asset_specs(records: list[DatasetRecord]) -> list[dg.AssetSpec]:
    return [discovered_asset_spec(record=r) for r in sorted(records, key=lambda r: r.key_string)]
