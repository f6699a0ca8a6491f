"""The governance block and metadata discovery gives every dataset, and where they show."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from datacrew_assets.cli import main
from datacrew_assets.discovered import discovered_asset_spec
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.governance import update_frequency
from datacrew_resources.catalog.models import DatasetMetadata, Governance, PiiColumn
from datacrew_resources.catalog.pii import Sampler
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import ConfigError, Home, PlatformConfig, SourceConfig, SourceType
from datacrew_resources.context import governed_engine

CUSTOMERS = "id,email,city\n1,ada@example.com,London\n2,grace@example.org,Arlington\n"
PAYMENTS = "id,card\n1,4111 1111 1111 1111\n2,5500 0000 0000 0004\n"
ROUTES = "carrier,flight,tailnum,origin,dest\nUA,1545,N14228,EWR,IAH\nAA,1141,N619AA,JFK,MIA\n"


@pytest.fixture
def home(tmp_path) -> Home:
    share = tmp_path / "share"
    share.mkdir()
    (share / "customers.csv").write_text(CUSTOMERS)
    (share / "payments.csv").write_text(PAYMENTS)
    (share / "routes.csv").write_text(ROUTES)
    return Home(tmp_path)


def share(classification: str = "internal", **options) -> SourceConfig:
    return SourceConfig(name="share", type=SourceType.file_systems, uri="share", owner="team:crm",
                        classification=classification, options=options)


def governed(home: Home) -> dict[str, tuple[Governance, DatasetMetadata]]:
    return {r.dataset_name: (r.governance, r.metadata) for r in CatalogStore(home.catalog_path).all()}


def test_pii_raises_the_classification_and_tags_the_regulations(home):
    discover(home, PlatformConfig(sources=[share(retention="7_years", domain="customer", sla_tier="gold")]))

    found = governed(home)
    assert found["customers"][0] == Governance(
        data_classification="confidential", access_level="restricted", retention_policy="7_years",
        compliance_tags=["gdpr", "ccpa"],
        pii=[PiiColumn(column="email", kind="email", by_name=True, value_share=1.0, sampled=2)], pii_sample=200,
    )
    assert found["payments"][0] == Governance(
        data_classification="restricted", access_level="highly_restricted", retention_policy="7_years",
        compliance_tags=["gdpr", "ccpa", "pci_dss"],
        pii=[PiiColumn(column="card", kind="card_number", by_name=False, value_share=1.0, sampled=2)],
        pii_sample=200,
    )
    assert found["routes"][0] == Governance(
        data_classification="internal", access_level="standard", retention_policy="7_years",
        compliance_tags=[], pii=[], pii_sample=200,
    )
    metadata = found["routes"][1]
    assert (metadata.domain, metadata.owner_team, metadata.sla_tier, metadata.update_frequency) == (
        "customer", "team:crm", "gold", "unknown")


def test_defaults_and_a_source_classification_that_is_never_lowered(home):
    discover(home, PlatformConfig(sources=[share("restricted")]))

    governance_block, metadata = governed(home)["routes"]
    assert (governance_block.data_classification, governance_block.access_level) == ("restricted", "highly_restricted")
    assert governance_block.retention_policy == "default"
    assert (metadata.domain, metadata.sla_tier) == ("crm", None)


def test_governance_options_do_not_reach_a_connector_that_forbids_unknown_options(tmp_path):
    (tmp_path / "landing" / "clicks").mkdir(parents=True)
    # The newest batch is the sample: it has the field the first batch lacked.
    (tmp_path / "landing" / "clicks" / "batch-0001.jsonl").write_text('{"at": "2026-11-24T09:00:00Z"}\n')
    (tmp_path / "landing" / "clicks" / "batch-0002.jsonl").write_text(
        '{"at": "2026-11-24T10:00:00Z", "contact": "+1 212 555 0100"}\n')
    stream = SourceConfig(name="landing", type=SourceType.streaming, uri="landing",
                          options={"event_time": "at", "retention": "30_days", "pii_sample": 10})
    discover(Home(tmp_path), PlatformConfig(sources=[stream]))

    record = CatalogStore(Home(tmp_path).catalog_path).get("landing/clicks")
    assert record.stream_position.event_time_column == "at"
    assert record.governance.retention_policy == "30_days"
    assert record.governance.pii == [
        PiiColumn(column="contact", kind="phone", by_name=False, value_share=1.0, sampled=1)]


def test_a_bad_governance_option_is_one_line_naming_it_and_nothing_is_written(home):
    [error] = discover(home, PlatformConfig(sources=[share(pii_sample=-1)])).errors
    assert error.message == (
        "datacrew.yaml: sources.share.options.pii_sample: -1: Input should be greater than or equal to 0")
    assert CatalogStore(home.catalog_path).all() == []


def test_update_frequency_is_inferred_from_updates_successive_scans_saw(home, monkeypatch):
    sampled = []
    real_sample = Sampler.sample
    monkeypatch.setattr(Sampler, "sample", lambda self, record, names: sampled.append(record.dataset_name)
                        or real_sample(self, record, names))
    routes = home.root / "share" / "routes.csv"
    start = datetime(2026, 11, 1, 6, tzinfo=UTC)
    config = PlatformConfig(sources=[share()])
    frequencies = []
    for day in (0, 1, 1, 2):  # the third scan sees no change
        os.utime(routes, ((start + timedelta(days=day)).timestamp(),) * 2)
        sampled.clear()
        discover(home, config)
        metadata = governed(home)["routes"][1]
        frequencies.append((metadata.update_frequency, len(metadata.observed_updates), "routes" in sampled))

    # Unchanged files keep their findings without a new read; three updates a day apart say daily.
    assert frequencies == [("unknown", 1, True), ("unknown", 2, True), ("unknown", 2, False), ("daily", 3, True)]


def test_update_frequency_names_the_nearest_period():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    every = lambda step, n=4: [at + step * i for i in range(n)]  # noqa: E731
    assert update_frequency(every(timedelta(hours=1))) == "hourly"
    assert update_frequency(every(timedelta(hours=2))) == "hourly"
    assert update_frequency(every(timedelta(hours=9))) == "daily"
    assert update_frequency(every(timedelta(days=7))) == "weekly"
    assert update_frequency(every(timedelta(minutes=1))) == "every_minute"
    assert update_frequency(every(timedelta(days=1), n=2)) == "unknown"


def test_the_asset_shows_classification_pii_and_the_governance_json(home):
    discover(home, PlatformConfig(sources=[share(sla_tier="silver")]))
    store = CatalogStore(home.catalog_path)

    customers = discovered_asset_spec(record=store.get("share/customers"))
    routes = discovered_asset_spec(record=store.get("share/routes"))
    assert customers.tags["datacrew/classification"] == "confidential"
    assert customers.tags["datacrew/pii"] == "true"
    assert (routes.tags["datacrew/classification"], routes.tags["datacrew/pii"]) == ("internal", "false")
    shown = customers.metadata["datacrew/governance"].value
    assert shown["governance"]["compliance_tags"] == ["gdpr", "ccpa"]
    assert shown["governance"]["pii"] == [
        {"column": "email", "kind": "email", "by_name": True, "value_share": 1.0, "sampled": 2}]
    assert shown["metadata"] == {"domain": "crm", "owner_team": "team:crm", "update_frequency": "unknown",
                                 "sla_tier": "silver"}


def test_discover_json_includes_governance_and_metadata(home, capsys, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(home.root / "dagster"))
    home.config_path.write_text(
        "sources:\n  - {name: share, type: file_systems, uri: share, owner: 'team:crm',"
        " options: {retention: 1_year}}\n")
    code = main(["discover", "--json", "--home", str(home.root)])
    out, err = capsys.readouterr()
    assert code == 0, err
    datasets = {d["dataset_name"]: d for d in json.loads(out)["datasets"]}
    assert datasets["payments"]["governance"]["data_classification"] == "restricted"
    assert datasets["payments"]["governance"]["retention_policy"] == "1_year"
    assert datasets["routes"]["metadata"]["domain"] == "crm"


SPEC = """\
name: customer_cities
type: etl
sources: [share/customers]
rules:
  - select: [id, city]
target_schema:
  columns:
    - {name: id, type: BIGINT}
    - {name: city, type: VARCHAR}
output: {format: parquet}
agent: reader
"""


def test_an_agent_cleared_for_internal_data_cannot_read_a_dataset_discovery_found_personal(home):
    (home.root / "specs").mkdir()
    (home.root / "specs" / "customer_cities.yaml").write_text(SPEC)
    home.config_path.write_text(
        "sources:\n  - {name: share, type: file_systems, uri: share, classification: internal}\n"
        "agents:\n  - {id: reader, authority: PIPELINE_COLLABORATOR, clearance: internal}\n"
        "transformations: specs/*.yaml\n")
    config = home.load_config()
    discover(home, config)
    specs = home.load_specs(config)

    with pytest.raises(ConfigError) as info:
        governed_engine(home, config, specs, specs[0], agent_id="reader", file="specs/customer_cities.yaml",
                        run_id="r", task_id="t")
    assert str(info.value) == (
        "specs/customer_cities.yaml: sources[0]: 'share/customers': "
        "agent 'reader' (clearance internal) may not read confidential data")
