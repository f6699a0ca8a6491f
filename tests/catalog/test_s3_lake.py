"""The `s3://` lake connector against moto's S3 API server, started here on a free local port."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from datacrew_resources.catalog import s3_lake, s3_listing
from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.lake import scan_lake
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home, PlatformConfig, SourceConfig, SourceType

from ..s3_server import KEY_ENV, SECRET_ENV, S3

SAMPLE = 64 << 10  # sample_bytes of the tests of sampling


def source(s3: S3, uri: str = "s3://lake/raw", **options) -> SourceConfig:
    return SourceConfig(
        name="lake", type=SourceType.data_lake, uri=uri, owner="team:lake",
        options={"endpoint_url": s3.url, "access_key_env": KEY_ENV, "secret_key_env": SECRET_ENV, **options},
    )


def scan(s3: S3, **options):
    return {r.dataset_name: r for r in s3_lake.scan_s3_lake(source(s3, **options), "s3://lake/raw", {})}


def rescan(s3: S3, before):
    return {r.dataset_name: r for r in s3_lake.scan_s3_lake(source(s3), "s3://lake/raw", before)}


@pytest.fixture
def footer_reads(monkeypatch) -> list[str]:
    """Every parquet footer the connector reads, as `bucket/key` (reads run in a pool: compare sorted)."""
    reads: list[str] = []
    read_footer = s3_lake.read_footer

    def counting(filesystem, path):
        reads.append(path)
        return read_footer(filesystem, path)

    monkeypatch.setattr(s3_lake, "read_footer", counting)
    return reads


@pytest.fixture
def local_lake(tmp_path, write_parquet) -> Path:
    """A small lake: a hive-partitioned parquet directory, a gzipped CSV, JSON lines, and files to skip."""
    lake = tmp_path / "local"
    write_parquet(lake / "flights" / "year=2013" / "month=1" / "part-0.parquet", rows=4, null_every=2)
    write_parquet(lake / "flights" / "year=2013" / "month=2" / "part-0.parquet", rows=6)
    (lake / "flights" / "_SUCCESS").write_bytes(b"")
    (lake / "planes.csv.gz").write_bytes(gzip.compress(b"tailnum,seats,model\nN1,100,A320\nN2,,B737\nN3,180,\n"))
    events = [{"id": i, "kind": "dep" if i % 2 else None} for i in range(5)]
    (lake / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (lake / "_staging.csv").write_text("a\n1\n")
    (lake / "notes.txt").write_text("not data")
    return lake


def upload(s3: S3, lake: Path, prefix: str = "raw", acl: str = "private") -> None:
    for path in sorted(p for p in lake.rglob("*") if p.is_file()):
        s3.put_file(f"{prefix}/{path.relative_to(lake).as_posix()}", path, acl)


def test_s3_lake_reads_like_the_local_lake(s3, local_lake, footer_reads):
    upload(s3, local_lake)
    records, errors = scan_lake(source(s3), local_lake)
    assert errors == []
    local = {r.dataset_name: r for r in records}

    found = scan(s3)

    assert sorted(found) == ["events", "flights", "planes"]
    for name, record in found.items():
        assert record.columns == local[name].columns, name
        assert record.record_count == local[name].record_count, name
        assert record.quality_score == local[name].quality_score, name
        assert record.size_bytes == local[name].size_bytes, name
        assert (record.format, record.compression, record.partition_keys, record.file_count) == (
            local[name].format, local[name].compression, local[name].partition_keys, local[name].file_count
        ), name
    flights = found["flights"]
    assert flights.location == "s3://lake/raw/flights/**/*.parquet"
    assert flights.partition_keys == ["year", "month"]
    assert flights.record_count == 10
    assert flights.quality_score == round(58 / 60, 4)  # 2 null amounts in 10 rows x 6 columns (with year, month)
    assert {c.name: c.type for c in flights.columns}["year"] == "BIGINT"
    assert [(o.key, o.rows, o.rows_exact) for o in flights.objects] == [
        ("year=2013/month=1/part-0.parquet", 4, True),
        ("year=2013/month=2/part-0.parquet", 6, True),
    ]
    assert found["planes"].location == "s3://lake/raw/planes.csv.gz"
    assert found["planes"].compression == "gzip"
    assert sorted(footer_reads) == [
        "lake/raw/flights/year=2013/month=1/part-0.parquet",
        "lake/raw/flights/year=2013/month=2/part-0.parquet",
    ]


def test_rescan_reads_only_objects_whose_etag_changed_and_notices_deletions(s3, tmp_path, write_parquet, footer_reads):
    for month, rows in ((1, 4), (2, 6), (3, 8)):
        s3.put_file(f"raw/flights/month={month}/part-0.parquet", write_parquet(tmp_path / f"{month}.parquet", rows))
    first = scan(s3)
    assert len(footer_reads) == 3

    unchanged = rescan(s3, first)
    assert len(footer_reads) == 3
    assert unchanged == first

    s3.put_file("raw/flights/month=2/part-0.parquet", write_parquet(tmp_path / "new.parquet", rows=9))
    changed = rescan(s3, unchanged)
    assert footer_reads[3:] == ["lake/raw/flights/month=2/part-0.parquet"]
    assert changed["flights"].record_count == 4 + 9 + 8
    assert [o.rows for o in changed["flights"].objects] == [4, 9, 8]

    s3.client.delete_object(Bucket="lake", Key="raw/flights/month=3/part-0.parquet")
    shrunk = rescan(s3, changed)
    assert len(footer_reads) == 4
    assert (shrunk["flights"].record_count, shrunk["flights"].file_count) == (4 + 9, 2)
    assert shrunk["flights"].size_bytes == sum(o.size for o in changed["flights"].objects[:2])

    # The schema is the first object's: when that one goes, the new first one is read for it.
    s3.client.delete_object(Bucket="lake", Key="raw/flights/month=1/part-0.parquet")
    last = rescan(s3, shrunk)
    assert footer_reads[4:] == ["lake/raw/flights/month=2/part-0.parquet"]
    assert [(o.key, o.rows) for o in last["flights"].objects] == [("month=2/part-0.parquet", 9)]
    assert last["flights"].columns == shrunk["flights"].columns


def test_csv_beyond_the_sample_estimates_its_rows_from_the_sample(s3):
    body = b"id,name\n" + b"".join(f"{i},name {i:05d}\n".encode() for i in range(2000))
    s3.put("raw/people.csv", body)

    (record,) = scan(s3, sample_bytes=4096).values()

    sample = body[: 4096 + 1]
    cut = sample.rfind(b"\n") + 1
    sampled_rows = sample[:cut].count(b"\n") - 1  # less the header
    (stored,) = record.objects
    assert (stored.rows_exact, stored.profiled_rows) == (False, sampled_rows)
    assert record.record_count == round(sampled_rows * len(body) / cut)
    assert [(c.name, c.type, c.nullable) for c in record.columns] == [
        ("id", "BIGINT", False),
        ("name", "VARCHAR", False),
    ]


def test_gzipped_csv_beyond_the_sample_estimates_its_rows_from_the_compressed_bytes_read(s3):
    text = b"id,name\n" + b"".join(f"{i},name {i * 7919 % 100_003}\n".encode() for i in range(200_000))
    s3.put("raw/people.csv.gz", gzip.compress(text))

    (record,) = scan(s3, sample_bytes=SAMPLE).values()

    sample = text[: SAMPLE + 1]
    (stored,) = record.objects
    assert (stored.rows_exact, stored.profiled_rows) == (False, sample[: sample.rfind(b"\n") + 1].count(b"\n") - 1)
    assert record.compression == "gzip"
    # An estimate: the compressed bytes behind the sample, as the decompressor reports them.
    assert abs(record.record_count - 200_000) / 200_000 < 0.02


def test_anonymous_access_reads_public_objects_without_keys(s3, local_lake, monkeypatch):
    upload(s3, local_lake, acl="public-read")
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.delenv(SECRET_ENV)

    found = scan(s3, anonymous=True)

    assert {name: r.record_count for name, r in found.items()} == {"events": 5, "flights": 10, "planes": 3}


def test_discover_writes_s3_datasets_with_keys_only_from_the_environment(s3, local_lake, tmp_path):
    upload(s3, local_lake)
    home = Home(tmp_path)

    report = discover(home, PlatformConfig(sources=[source(s3)]))

    assert [(s.name, s.datasets, s.records) for s in report.sources] == [("lake", 3, 5 + 10 + 3)]
    stored = {r.dataset_name: r for r in CatalogStore(home.catalog_path).all()}
    assert stored["flights"].objects == {r.dataset_name: r for r in report.records}["flights"].objects


def one_line_error(s3: S3, tmp_path: Path, bad: SourceConfig, spoil: Callable[[], None] = lambda: None) -> str:
    """Discover `bad` (after `spoil`) over a catalog holding a good scan: a partial scan, its one error
    recorded for the source, the catalog unchanged."""
    home = Home(tmp_path)
    discover(home, PlatformConfig(sources=[source(s3)]))
    before = CatalogStore(home.catalog_path).all()
    spoil()
    report = discover(home, PlatformConfig(sources=[bad]))
    assert CatalogStore(home.catalog_path).all() == before
    [error] = report.errors
    assert (error.source, error.dataset) == (bad.name, None)
    assert [e.error for e in CatalogStore(home.catalog_path).errors()] == [error]
    assert "\n" not in error.message
    return error.message


@pytest.fixture
def good_lake(s3, local_lake) -> S3:
    upload(s3, local_lake)
    return s3


def test_missing_bucket(good_lake, tmp_path):
    message = one_line_error(good_lake, tmp_path, source(good_lake, uri="s3://nobucket/raw"))
    assert message == (
        "s3://nobucket/raw: source 'lake': cannot list the bucket prefix"
        " (NoSuchBucket: The specified bucket does not exist)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_endpoint(good_lake, tmp_path):
    port = free_port()
    bad = source(good_lake, endpoint_url=f"http://127.0.0.1:{port}")
    message = one_line_error(good_lake, tmp_path, bad)
    assert message.startswith(
        f"s3://lake/raw: source 'lake': cannot list the bucket prefix (cannot reach 127.0.0.1:{port} ("
    )


def test_corrupt_parquet_object_names_the_object(good_lake, tmp_path):
    key = "raw/flights/year=2013/month=2/part-0.parquet"
    message = one_line_error(good_lake, tmp_path, source(good_lake), lambda: good_lake.put(key, b"PAR1 not a footer"))
    assert message.startswith(f"s3://lake/{key}: source 'lake': cannot read parquet footer (")


def test_prefix_without_objects_is_refused(good_lake, tmp_path):
    message = one_line_error(good_lake, tmp_path, source(good_lake, uri="s3://lake/rwa"))
    assert message == "s3://lake/rwa: source 'lake': no objects under this prefix"


def test_ragged_csv_object_is_refused_naming_the_object(good_lake, tmp_path):
    def spoil() -> None:
        good_lake.put("raw/routes.csv", b"origin,dest\nJFK,LAX\nEWR,SFO,extra\n")

    message = one_line_error(good_lake, tmp_path, source(good_lake), spoil)
    assert message == (
        "s3://lake/raw/routes.csv: source 'lake': ragged CSV: line 3 has 3 fields, the header has 2 (delimiter ',')"
    )


def test_key_names_must_be_set_in_the_environment(good_lake, tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    report = discover(Home(tmp_path), PlatformConfig(sources=[source(good_lake)]))
    assert [e.message for e in report.errors] == [(
        f"datacrew.yaml: sources.lake.options.secret_key_env: '{SECRET_ENV}': environment variable is not set"
        " (or set options.anonymous: true)"
    )]


@pytest.fixture
def iam_keys(s3, monkeypatch) -> Callable[[], None]:
    """A user allowed to read the bucket, its keys in the environment; calling the result turns on moto's checks."""
    iam = boto3.client(
        "iam", endpoint_url=s3.url, region_name="us-east-1",
        aws_access_key_id="AKIDTESTING", aws_secret_access_key="secret-testing",
    )
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader", PolicyName="read-lake",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv(KEY_ENV, key["AccessKeyId"])
    monkeypatch.setenv(SECRET_ENV, key["SecretAccessKey"])
    return lambda: s3.post("/moto-api/reset-auth", b"0")


def test_signed_requests_pass_credential_checks(good_lake, iam_keys, footer_reads):
    iam_keys()

    found = scan(good_lake)

    assert sorted(found) == ["events", "flights", "planes"]
    assert len(footer_reads) == 2


def test_listing_pages_are_signed_and_followed(good_lake, iam_keys, monkeypatch):
    monkeypatch.setattr(s3_listing, "PAGE_KEYS", 2)  # 8 objects: 4 pages, 3 continuation tokens signed
    iam_keys()

    found = scan(good_lake)

    assert {name: r.file_count for name, r in found.items()} == {"events": 1, "flights": 2, "planes": 1}


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        (KEY_ENV, "AKIDNOSUCHKEY0000000", "InvalidAccessKeyId: The AWS Access Key Id you provided does not exist"),
        (SECRET_ENV, "wrong-secret", "SignatureDoesNotMatch: The request signature we calculated does not match"),
    ],
)
def test_bad_credentials(good_lake, iam_keys, tmp_path, monkeypatch, variable, value, problem):
    def spoil() -> None:
        iam_keys()
        monkeypatch.setenv(variable, value)

    message = one_line_error(good_lake, tmp_path, source(good_lake), spoil)
    assert message.startswith(f"s3://lake/raw: source 'lake': cannot list the bucket prefix ({problem}")
