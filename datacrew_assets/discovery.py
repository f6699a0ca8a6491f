"""Discovery on Dagster: the `discover_sources` job, its schedule, and the `catalog_changes` sensor.

The job runs `catalog.discover.discover` (every source, or those named in its run
config) and so rewrites the catalog store. The sensor compares the store with its
cursor and records one `AssetObservation` per new or changed dataset: Dagster keeps
observations of keys the code location does not define yet, so a new dataset's
schema, row count and last update are recorded at once; its asset node appears when
the code location is next loaded (see README, "Discovery on Dagster").
"""

# No `from __future__ import annotations`: Dagster reads the op's config class from its annotation.
import base64
import hashlib
import json
import zlib
from typing import Any

import dagster as dg
from pydantic import Field

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.models import DatasetRecord
from datacrew_resources.catalog.store import CatalogStore, schema_change, schema_hash
from datacrew_resources.config import ConfigError, Home
from datacrew_resources.config.errors import ConfigErrors
from datacrew_resources.resources import PlatformResource

from .metadata import column_schema

DISCOVERY_JOB = "discover_sources"
DISCOVERY_SCHEDULE = "discovery_schedule"
CHANGES_SENSOR = "catalog_changes"
DISCOVERY_CRON = "0 * * * *"
CHANGES_INTERVAL_SECONDS = 60

Columns = list[list[str]]  # [[name, type], ...] in order


class DiscoveryRunConfig(dg.Config):
    sources: list[str] = Field(default_factory=list, description="source names to scan; empty scans them all")


@dg.op(name="discover")
def discover_op(
    context: dg.OpExecutionContext, config: DiscoveryRunConfig, platform: PlatformResource
) -> dict[str, int]:
    """Scan the sources and replace their records in the catalog store; datasets found per source."""
    home = platform.home()
    try:
        report = discover(home, home.load_config(), sources=config.sources or None)
    except (ConfigError, ConfigErrors) as e:
        # The scan's own one-line message; nothing was written.
        raise dg.Failure(description=str(e)) from None
    found = {source.name: source.datasets for source in report.sources}
    for error in report.errors:  # a partial scan: what failed kept its previous records
        context.log.warning(f"discovery error in {error.source}{'/' + error.dataset if error.dataset else ''}: {error.message}")
    context.add_output_metadata(
        {
            "datacrew/errors": dg.JsonMetadataValue(
                [{"source": e.source, "dataset": e.dataset, "message": e.message} for e in report.errors]
            ),
            "datacrew/datasets": sum(found.values()),
            "datacrew/records": sum(source.records for source in report.sources),
            "datacrew/seconds": round(report.seconds, 3),
            "datacrew/sources": dg.JsonMetadataValue(found),
        }
    )
    return found


@dg.job(name=DISCOVERY_JOB, description="Scan the configured sources and rewrite the catalog store.")
def discover_sources() -> None:
    discover_op()


def fingerprint(record: DatasetRecord) -> str:
    """What tells the sensor a dataset changed: its key, last update and schema."""
    seen = f"{record.key_string}\n{record.last_updated.isoformat()}\n{schema_hash(record)}"
    return hashlib.sha256(seen.encode()).hexdigest()[:16]


def encode_cursor(state: dict[str, dict[str, Any]]) -> str:
    # Compressed: the cursor keeps every dataset's columns, and a 10,000-dataset
    # catalog repeats the same column names over and over.
    packed = zlib.compress(json.dumps(state, sort_keys=True, separators=(",", ":")).encode(), 9)
    return base64.b64encode(packed).decode()


def decode_cursor(cursor: str | None) -> dict[str, dict[str, Any]]:
    """Key -> {"fingerprint", "columns"}; an empty dict before the first tick."""
    if not cursor:
        return {}
    return json.loads(zlib.decompress(base64.b64decode(cursor)))


def catalog_state(records: list[DatasetRecord]) -> dict[str, dict[str, Any]]:
    return {
        r.key_string: {"fingerprint": fingerprint(r), "columns": [[c.name, c.type] for c in r.columns]}
        for r in records
    }


def change_observation(record: DatasetRecord, previous: Columns | None) -> dg.AssetObservation:
    """The dataset as the catalog now has it; `previous` columns (None when new) give its schema change."""
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.IntMetadataValue(record.record_count),
        "dagster/column_schema": column_schema(record.columns),
        "dagster/last_updated_timestamp": dg.TimestampMetadataValue(record.last_updated.timestamp()),
        "datacrew/size_bytes": dg.IntMetadataValue(record.size_bytes),
        "datacrew/change": "new" if previous is None else "changed",
    }
    if previous is not None:
        change = schema_change(previous, [[c.name, c.type] for c in record.columns])
        if any(change.values()):
            metadata["datacrew/schema_change"] = dg.JsonMetadataValue(change)
    return dg.AssetObservation(asset_key=dg.AssetKey(record.asset_key), metadata=metadata)


def catalog_changes_result(records: list[DatasetRecord], cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    """Observations of the datasets new or changed since `cursor`, and the cursor to keep."""
    known = decode_cursor(cursor)
    state = catalog_state(records)
    events = [
        change_observation(r, known[r.key_string]["columns"] if r.key_string in known else None)
        for r in records
        if known.get(r.key_string, {}).get("fingerprint") != state[r.key_string]["fingerprint"]
    ]
    removed = sorted(set(known) - set(state))
    if not events and not removed:
        return dg.SkipReason("no new or changed datasets in the catalog")
    skip = None if events else f"datasets left the catalog: {', '.join(removed)}"
    return dg.SensorResult(asset_events=events, cursor=encode_cursor(state), skip_reason=skip)


def catalog_changes_sensor(home: Home) -> dg.SensorDefinition:
    @dg.sensor(
        name=CHANGES_SENSOR,
        minimum_interval_seconds=CHANGES_INTERVAL_SECONDS,
        # Read-only (the catalog store in, observations out): safe to run from the start.
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Observe datasets that discovery found new or changed, schema drift included.",
    )
    def catalog_changes(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return catalog_changes_result(CatalogStore.for_home(home).all(), context.cursor)

    return catalog_changes


def discovery_definitions(home: Home) -> dg.Definitions:
    """The discovery job, its hourly schedule (stopped until turned on) and the change sensor."""
    schedule = dg.ScheduleDefinition(
        name=DISCOVERY_SCHEDULE,
        job=discover_sources,
        cron_schedule=DISCOVERY_CRON,
        # Stopped: a scheduled scan reaches every configured server and rewrites the
        # catalog the asset graph is built from; an operator turns it on.
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return dg.Definitions(jobs=[discover_sources], schedules=[schedule], sensors=[catalog_changes_sensor(home)])
