"""The governance block and business metadata of every discovered dataset.

Discovery applies `govern` to each source's records right after the scan:

- PII: `pii.detect` on the column names and, for datasets DuckDB reads, on a
  sample of `options.pii_sample` rows (default 200; 0 judges names only). A
  dataset unchanged since the previous scan (same location, size, files, rows,
  schema and last update) keeps its previous findings without a new read, so a
  rescan with nothing changed reads no data.
- data_classification: the source's classification, raised to `confidential`
  when the dataset holds personal data and to `restricted` when it holds card
  numbers or national ids; never lowered.
- access_level: who may read it, from the classification (`ACCESS_LEVELS`;
  readers need a clearance of at least the classification).
- retention_policy: `options.retention` (default `default`).
- compliance_tags: `gdpr` and `ccpa` for personal data, `pci_dss` for card numbers.
- metadata: domain (`options.domain`, else the owner team's name), owner team,
  sla_tier (`options.sla_tier`, else none) and update_frequency, named from the
  median interval between the distinct last updates successive scans saw
  (`unknown` until three were seen; no finer than the discovery schedule).

Governance options sit in the source's `options` beside the connector's own;
connectors get the source without them (`connector_source`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import SourceConfig
from ..config.classification import CLASSIFICATIONS
from ..config.errors import from_pydantic
from ..config.platform import CONFIG_FILE
from .models import DatasetMetadata, DatasetRecord, Governance, PiiColumn
from .pii import Sampler, detect
from .store import schema_hash

ACCESS_LEVELS = {
    "public": "open",
    "internal": "standard",
    "confidential": "restricted",
    "restricted": "highly_restricted",
}
SENSITIVE_KINDS = frozenset({"card_number", "national_id"})
KEPT_UPDATES = 12
# Nominal periods; an observed median interval takes the nearest name on a log scale.
FREQUENCIES = {
    "every_minute": 60.0,
    "hourly": 3_600.0,
    "daily": 86_400.0,
    "weekly": 604_800.0,
    "monthly": 2_629_746.0,
    "quarterly": 7_889_238.0,
    "yearly": 31_556_952.0,
}
MIN_OBSERVED_UPDATES = 3


class GovernanceOptions(BaseModel):
    """The governance keys of a source's `options` (the connector validates the rest)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    retention: str = Field(default="default", min_length=1)
    domain: str | None = Field(default=None, min_length=1)
    sla_tier: str | None = Field(default=None, min_length=1)
    pii_sample: int = Field(default=200, ge=0, description="rows sampled for PII values; 0: names only")


GOVERNANCE_OPTIONS = frozenset(GovernanceOptions.model_fields)


def governance_options(source: SourceConfig) -> GovernanceOptions:
    try:
        return GovernanceOptions.model_validate(source.options)
    except ValidationError as e:
        raise from_pydantic(e, file=CONFIG_FILE, prefix=f"sources.{source.name}.options")[0] from None


def connector_source(source: SourceConfig) -> SourceConfig:
    """The source as its connector sees it: options without the governance keys."""
    if not GOVERNANCE_OPTIONS.intersection(source.options):
        return source
    options = {k: v for k, v in source.options.items() if k not in GOVERNANCE_OPTIONS}
    return source.model_copy(update={"options": options})


def most_sensitive(levels: Sequence[str]) -> str:
    return max(levels, key=CLASSIFICATIONS.index)


def classify(source_level: str, pii: Sequence[PiiColumn]) -> str:
    levels = [source_level]
    if pii:
        levels.append("confidential")
    if SENSITIVE_KINDS.intersection(p.kind for p in pii):
        levels.append("restricted")
    return most_sensitive(levels)


def record_classification(record: DatasetRecord, source_level: str) -> str:
    """What a reader needs clearance for: the source's level, or the record's if higher."""
    found = record.governance.data_classification if record.governance else source_level
    return most_sensitive([source_level, found])


def compliance_tags(pii: Sequence[PiiColumn]) -> list[str]:
    kinds = {p.kind for p in pii}
    tags = ["gdpr", "ccpa"] if kinds else []
    if "card_number" in kinds:
        tags.append("pci_dss")
    return tags


def update_frequency(observed: Sequence[datetime]) -> str:
    """The name of the median interval between observed updates, or `unknown`."""
    if len(observed) < MIN_OBSERVED_UPDATES:
        return "unknown"
    intervals = [(b - a).total_seconds() for a, b in zip(observed, observed[1:])]
    median = statistics.median(intervals)
    if median <= 0:
        return "unknown"
    # Nearest by ratio: 2 hours is closer to hourly than to daily.
    return min(FREQUENCIES, key=lambda name: abs(math.log(median / FREQUENCIES[name])))


def govern(
    source: SourceConfig, records: Sequence[DatasetRecord], previous: Mapping[str, DatasetRecord]
) -> list[DatasetRecord]:
    """`records` of one source with their governance and metadata; `previous` by dataset name."""
    options = governance_options(source)
    with Sampler(options.pii_sample) as sampler:
        return [_govern(source, options, sampler, record, previous.get(record.dataset_name)) for record in records]


def _govern(
    source: SourceConfig,
    options: GovernanceOptions,
    sampler: Sampler,
    record: DatasetRecord,
    before: DatasetRecord | None,
) -> DatasetRecord:
    if _unchanged(record, before, options):
        pii = before.governance.pii
    else:
        pii = detect(record.columns, sampler.values(record))
    classification = classify(source.classification, pii)
    governance = Governance(
        data_classification=classification,
        access_level=ACCESS_LEVELS[classification],
        retention_policy=options.retention,
        compliance_tags=compliance_tags(pii),
        pii=pii,
        pii_sample=options.pii_sample,
    )
    observed = _observed_updates(record, before)
    metadata = DatasetMetadata(
        domain=options.domain or record.owner.removeprefix("team:"),
        owner_team=record.owner,
        update_frequency=update_frequency(observed),
        sla_tier=options.sla_tier,
        observed_updates=observed,
    )
    return record.model_copy(update={"governance": governance, "metadata": metadata})


def _unchanged(record: DatasetRecord, before: DatasetRecord | None, options: GovernanceOptions) -> bool:
    """Same data as when `before`'s findings were made, sampled the same way."""
    if before is None or before.governance is None or before.governance.pii_sample != options.pii_sample:
        return False
    fields = ("location", "format", "table", "size_bytes", "file_count", "record_count", "last_updated")
    return all(getattr(record, f) == getattr(before, f) for f in fields) and schema_hash(record) == schema_hash(before)


def _observed_updates(record: DatasetRecord, before: DatasetRecord | None) -> list[datetime]:
    seen = list(before.metadata.observed_updates) if before is not None and before.metadata else []
    if not seen or record.last_updated > seen[-1]:
        seen.append(record.last_updated)
    return seen[-KEPT_UPDATES:]


def governance_json(record: DatasetRecord) -> dict[str, Any]:
    """The tutorial's `governance` and `metadata` objects (None before discovery governed it)."""
    return {
        "governance": record.governance.model_dump(mode="json") if record.governance else None,
        "metadata": record.metadata.model_dump(mode="json", exclude={"observed_updates"}) if record.metadata else None,
    }
