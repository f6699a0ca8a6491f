"""A transformation reading an `s3://` lake dataset (moto's S3 API on loopback): the run copies
the objects it reads to local files, fetches only what changed, and bad inputs fail in one
line with the previous output kept. The dataset's own checks scan the same copy."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from datacrew_assets.definitions import build_definitions

from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import ConfigError, Home
from datacrew_resources.crew import CrewAIRunner
from datacrew_resources.environment import prepare_environment
from datacrew_resources.transformation import run_transformation

from ..platform.test_dataset_checks import evaluations, run_checks
from ..s3_server import KEY_ENV, SECRET_ENV, S3
from .small_home import write_flights
from .test_engine_session import SPEC
from .test_hosted_llm import EXPECTED_ROWS, FLIGHTS

# FLIGHTS in three hive partitions of the S3 dataset `lake/flights`.
MONTHS = {"month=1": FLIGHTS[:2], "month=2": FLIGHTS[2:4], "month=3": FLIGHTS[4:]}


def put_flights(s3: S3, scratch: Path, month: str, flights: list[tuple]) -> None:
    local = scratch / f"{month}-{len(list(scratch.glob('*')))}"
    write_flights(local, flights)
    s3.put_file(f"raw/flights/{month}/part-0.parquet", local / "flights.parquet")


@pytest.fixture
def home(tmp_path: Path, s3: S3, monkeypatch) -> Home:
    """A home whose only source is the S3 lake `s3://lake/raw`, discovered, and one spec reading it."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "scratch").mkdir()
    for month, flights in MONTHS.items():
        put_flights(s3, tmp_path / "scratch", month, flights)
    home = Home(tmp_path / "home")
    (home.root / "specs").mkdir(parents=True)
    (home.root / "specs" / "delays_by_carrier.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    home.config_path.write_text(yaml.safe_dump({
        "sources": [{"name": "lake", "type": "data_lake", "uri": "s3://lake/raw", "owner": "team:flight-ops",
                     "options": {"endpoint_url": s3.url, "access_key_env": KEY_ENV, "secret_key_env": SECRET_ENV}}],
        "transformations": "specs/*.yaml",
    }, sort_keys=False))
    prepare_environment(home)
    discover(home, home.load_config())
    return home


def transform(home: Home):
    runner = CrewAIRunner(home.load_config().llm, storage_dir=home.state_dir / "crewai")
    return run_transformation(home, "delays_by_carrier", runner)


def written(outcome) -> list[tuple]:
    with duckdb.connect() as con:
        return sorted(con.execute("SELECT * FROM read_parquet(?)", [outcome.output_uri]).fetchall())


def copy_of(home: Home, month: str) -> Path:
    return home.state_dir / "s3" / "lake" / "flights" / month / "part-0.parquet"


def test_a_transformation_reads_the_bucket_as_it_is_now_fetching_only_what_changed(home, s3, tmp_path):
    first = transform(home)
    assert written(first) == EXPECTED_ROWS
    assert all(copy_of(home, month).exists() for month in MONTHS)
    kept = copy_of(home, "month=1").stat().st_mtime_ns

    # The bucket changes after discovery: one object rewritten, one deleted, one left alone.
    put_flights(s3, tmp_path / "scratch", "month=3", [(5, "UA", "EWR", 30.0), (7, "DL", "LGA", 5.0)])
    s3.client.delete_object(Bucket="lake", Key="raw/flights/month=2/part-0.parquet")
    second = transform(home)

    assert written(second) == [("AA", 1, 10.0), ("DL", 1, 5.0), ("UA", 1, 30.0)]
    assert copy_of(home, "month=1").stat().st_mtime_ns == kept  # same ETag: not fetched again
    assert not copy_of(home, "month=2").exists()
    assert second.output_uri == first.output_uri


def test_a_single_object_at_the_root_of_the_bucket_is_read(home, s3, tmp_path):
    for month in MONTHS:
        s3.client.delete_object(Bucket="lake", Key=f"raw/flights/{month}/part-0.parquet")
    write_flights(tmp_path / "root", FLIGHTS)
    s3.put_file("flights.parquet", tmp_path / "root" / "flights.parquet")
    config = yaml.safe_load(home.config_path.read_text())
    config["sources"][0]["uri"] = "s3://lake"
    home.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    discover(home, home.load_config())

    assert written(transform(home)) == EXPECTED_ROWS
    assert (home.state_dir / "s3" / "lake" / "flights" / "flights.parquet").exists()


def test_missing_keys_fail_in_one_line_and_keep_the_previous_output(home, monkeypatch):
    output = Path(transform(home).output_uri)
    before = output.read_bytes()
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError) as failed:
        transform(home)
    assert str(failed.value) == (f"datacrew.yaml: sources.lake.options.access_key_env: '{KEY_ENV}': "
                                 "environment variable is not set (or set options.anonymous: true)")
    assert output.read_bytes() == before


def test_a_dataset_gone_from_the_bucket_fails_in_one_line_and_keeps_the_previous_output(home, s3):
    output = Path(transform(home).output_uri)
    before = output.read_bytes()
    for month in MONTHS:
        s3.client.delete_object(Bucket="lake", Key=f"raw/flights/{month}/part-0.parquet")
    with pytest.raises(ConfigError) as failed:
        transform(home)
    assert str(failed.value) == "lake/flights: 's3://lake/raw/flights/**/*.parquet': no objects in the bucket any more"
    assert output.read_bytes() == before
    assert copy_of(home, "month=1").exists()  # the last good copy stays until objects are listed again


def test_an_unreachable_endpoint_fails_in_one_line(home, monkeypatch):
    config = yaml.safe_load(home.config_path.read_text())
    config["sources"][0]["options"]["endpoint_url"] = "http://127.0.0.1:9"  # discard port: nothing listens
    home.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(ConfigError) as failed:
        transform(home)
    message = str(failed.value)
    assert message.startswith("lake/flights: 's3://lake/raw/flights/**/*.parquet': cannot list its objects: ")
    assert "\n" not in message


def check_flights(home: Home) -> tuple[dict[str, dg.AssetCheckEvaluation], dict]:
    """Run the checks of `lake/flights` as the UI's "Execute" does: their evaluations and observation."""
    defs = build_definitions(home)
    keys = [k for d in defs.asset_checks for k in d.check_keys if k.asset_key.to_user_string() == "lake/flights"]
    result = run_checks(home, *keys)
    [observed] = [e.event_specific_data.asset_observation for e in result.all_events
                  if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION]
    return {name: e for (_, name), e in evaluations(result).items()}, observed.metadata


def test_the_checks_of_an_s3_dataset_scan_the_bucket_as_it_is_now(home, s3, tmp_path):
    evaluations, observed = check_flights(home)
    assert observed["dagster/row_count"].value == len(FLIGHTS)
    # Five columns (the partition's `month` among them), one empty cell of 30.
    assert evaluations["completeness"].passed
    assert evaluations["completeness"].metadata["value"].value == pytest.approx(29 / 30)
    assert evaluations["schema_conformity"].passed
    assert evaluations["schema_conformity"].severity == dg.AssetCheckSeverity.ERROR  # scanned: it may block

    put_flights(s3, tmp_path / "scratch", "month=4", [(i, None, None, None) for i in range(10, 14)])
    evaluations, observed = check_flights(home)
    assert observed["dagster/row_count"].value == len(FLIGHTS) + 4
    assert not evaluations["completeness"].passed
    assert evaluations["completeness"].metadata["value"].value == pytest.approx(37 / 50)
