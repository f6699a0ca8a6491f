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
- profile: distinct counts the source does not keep (parquet footers rarely
  do) are estimated from the same sample (`profile.estimate_distinct`), for
  the sampled columns and the dataset's key; the min and max of a PII column
  are dropped, so the catalog never holds personal data. The quality score is
  then computed from the profile and the dataset's `datasets:` rules
  (`profile.score`).
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
from ..config.datasets import DatasetsConfig
from ..config.errors import from_pydantic
from ..config.platform import CONFIG_FILE
from .models import DatasetMetadata, DatasetProfile, DatasetRecord, Governance, PiiColumn
from .pii import Blocks, Sample, Sampler, Screen, detect, sampled_columns, screen
from .profile import SampleCounts, carry_estimates, sample_counts, sampled_distincts, score, without_values
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
    source: SourceConfig,
    records: Sequence[DatasetRecord],
    previous: Mapping[str, DatasetRecord],
    datasets: DatasetsConfig | None = None,
) -> list[DatasetRecord]:
    """`records` of one source with their governance, metadata, profile and quality score;
    `previous` by dataset name; `datasets` the `datasets:` rules the score judges validity and
    keys by."""
    options = governance_options(source)
    declared = (datasets or DatasetsConfig()).declared
    rules = {r.dataset_name: declared.get(r.key_string) for r in records}
    fresh = [r for r in records if not _unchanged(r, previous.get(r.dataset_name), options)]

    def keys(record: DatasetRecord) -> list[str]:  # key columns whose distinct values the sample estimates
        quality = rules[record.dataset_name]
        return list(quality.primary_key if quality and quality.primary_key else record.primary_key)

    with Sampler(options.pii_sample) as sampler:
        samples = {r.dataset_name: sampler.sample(r, sampled_columns(r, keys(r))) for r in fresh}
    screens, counts = _sample_figures(samples)
    governed = []
    for record in records:
        name = record.dataset_name
        before = previous.get(name)
        if name in samples:
            pii = detect(record.columns, samples[name].values, screens.get(name))
            profile = sampled_distincts(record.profile, counts.get(name, {}), record.record_count)
        else:  # the data is unchanged since `before`, whose findings hold
            pii = before.governance.pii
            profile = carry_estimates(record.profile, before.profile)
        governed.append(_govern(source, options, record, before, pii, profile))
    return [
        score(r, rules=rules[r.dataset_name].columns if rules[r.dataset_name] else {}, primary_key=keys(r))
        for r in governed
    ]


def _sample_figures(
    samples: Mapping[str, Sample],
) -> tuple[dict[str, dict[str, Screen]], dict[str, dict[str, SampleCounts]]]:
    """PII screens and value counts of every sampled column, by dataset then column, computed
    for all datasets at once (per column, the kernel calls would cost more than the work)."""
    columns = [(name, column, values) for name, sample in samples.items() for column, values in sample.values.items()]
    screens: dict[str, dict[str, Screen]] = {}
    counts: dict[str, dict[str, SampleCounts]] = {}
    if not columns:
        return screens, counts
    blocks = Blocks([values for _, _, values in columns])
    for (name, column, _), screened, counted in zip(columns, screen(blocks), sample_counts(blocks), strict=True):
        screens.setdefault(name, {})[column] = screened
        counts.setdefault(name, {})[column] = counted
    return screens, counts


def _govern(
    source: SourceConfig,
    options: GovernanceOptions,
    record: DatasetRecord,
    before: DatasetRecord | None,
    pii: list[PiiColumn],
    profile: DatasetProfile | None,
) -> DatasetRecord:
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
    profile = without_values(profile, pii)
    if profile is record.profile and (governance, metadata) == (record.governance, record.metadata):
        return record  # a record kept from the previous scan: no copy (a rescan does this 10,000 times)
    return record.model_copy(update={"governance": governance, "metadata": metadata, "profile": profile})


def _unchanged(record: DatasetRecord, before: DatasetRecord | None, options: GovernanceOptions) -> bool:
    """Same data as when `before`'s findings were made, sampled the same way."""
    if before is None or before.governance is None or before.governance.pii_sample != options.pii_sample:
        return False
    if record is before:  # kept by a connector that found its data unchanged
        return True
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
