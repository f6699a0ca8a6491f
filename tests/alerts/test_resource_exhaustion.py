"""Runs stopped by a resource limit become resource_exhaustion alerts, from real failures: DuckDB's memory
limit and temp directory limit in an asset body and in a transformation's crew run, and the crew run's
time limit."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from datacrew_assets.alerts import RUN_FAILURE_SENSOR, alert_sensors
from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB
from datacrew_resources.config.alerts import AlertsConfig
from datacrew_resources.config.home import Home
from tests.crew.small_home import small_home

from . import WebhookReceiver

# One list of ten million integers: more than a 10MB memory limit can hold.
TOO_BIG = "SELECT list(range) FROM range(10000000)"
# Eight million distinct strings to group: spills far beyond a 1MB temp directory.
SPILLS = "SELECT count(*) FROM (SELECT md5(range::VARCHAR) AS s, count(*) FROM range(8000000) GROUP BY s)"


def out_of_memory() -> None:
    with duckdb.connect(config={"memory_limit": "10MB", "threads": 1}) as con:
        con.execute(TOO_BIG).fetchall()


def over_temp_limit(temp_dir: Path) -> None:
    with duckdb.connect(config={"memory_limit": "64MB", "threads": 1, "temp_directory": str(temp_dir)}) as con:
        # Set after connecting: DuckDB 2.0 shows a max_temp_directory_size given at connect but does not apply it.
        con.execute("SET max_temp_directory_size = '1MB'")
        con.execute(SPILLS).fetchall()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def alert_on_failure(home: Home, config: AlertsConfig, instance: dg.DagsterInstance, result) -> None:
    """Evaluate the run-failure sensor on the failed run, as the daemon would."""
    [sensor] = [s for s in alert_sensors(home=home, config=config) if s.name == RUN_FAILURE_SENSOR]
    context = dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    sensor(context)


def alerts(home: Home) -> list[dict]:
    path = home.state_dir / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_duckdb_out_of_memory_in_an_asset_is_one_resource_exhaustion_alert(
    home: Home, receiver: WebhookReceiver, instance: dg.DagsterInstance
) -> None:
    with pytest.raises(duckdb.OutOfMemoryException) as raised:
        out_of_memory()
    duckdb_says = str(raised.value).splitlines()[0]  # "Out of Memory Error: failed to allocate ..."

    @dg.asset(key=["transformed", "big_lists"])
    def big_lists() -> None:
        out_of_memory()

    config = AlertsConfig(webhook_url=receiver.url, webhook_timeout_seconds=5)
    runs = []
    for _ in range(2):
        result = dg.materialize([big_lists], instance=instance, raise_on_error=False)
        assert not result.success
        alert_on_failure(home, config, instance, result)
        runs.append(result.run_id)

    [alert] = alerts(home)  # the second run out of memory is the same incident
    job = "__ephemeral_asset_job__"
    title = f"Run of job {job} ran out of memory (memory_limit)"
    details = {
        "resource": "memory",
        "setting": "memory_limit",
        "error": duckdb_says,
        "message": f'Execution of run for "{job}" failed. Steps failed: [\'transformed__big_lists\'].',
        "failed_steps": {"transformed__big_lists": f"_duckdb.OutOfMemoryException: {duckdb_says}"},
    }
    assert alert == {
        "at": alert["at"],
        "kind": "resource_exhaustion",
        "severity": "error",
        "title": title,
        "asset_key": None,
        "job": job,
        "run_id": runs[0],
        "check_name": None,
        "metric": None,
        "incident_key": f"resource_exhaustion|job:{job}",
        "details": details,
    }
    assert receiver.payloads == [{
        "text": f"[ERROR] {title}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Kind*\nresource_exhaustion"},
                    {"type": "mrkdwn", "text": "*Severity*\nerror"},
                    {"type": "mrkdwn", "text": f"*Job*\n{job}"},
                    {"type": "mrkdwn", "text": f"*Run*\n{runs[0]}"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(
                f"• *{key}*: {json.dumps(value)}" for key, value in details.items())}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"incident `resource_exhaustion|job:{job}`"}]},
        ],
    }]


def test_duckdb_temp_directory_limit_in_an_asset_is_resource_exhaustion(
    home: Home, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    @dg.asset(key=["transformed", "distinct_hashes"])
    def distinct_hashes() -> None:
        over_temp_limit(tmp_path / "spill")

    result = dg.materialize([distinct_hashes], instance=instance, raise_on_error=False)
    assert not result.success
    alert_on_failure(home, AlertsConfig(), instance, result)

    [alert] = alerts(home)
    assert alert["kind"] == "resource_exhaustion"
    assert alert["title"] == "Run of job __ephemeral_asset_job__ filled its temp directory (max_temp_directory_size)"
    assert (alert["details"]["resource"], alert["details"]["setting"]) == ("temp_directory", "max_temp_directory_size")
    # DuckDB's own words; the block sizes it reports vary with how far the spill got.
    assert re.fullmatch(
        r"Out of Memory Error: failed to offload data block of size [\d.]+ KiB \([\d.]+ KiB/976\.5 KiB used\)\.",
        alert["details"]["error"],
    )


def test_a_failure_that_is_no_resource_limit_stays_a_pipeline_failure(
    home: Home, instance: dg.DagsterInstance
) -> None:
    @dg.asset(key=["transformed", "typo"])
    def typo() -> None:
        with duckdb.connect() as con:
            con.execute("SELECT no_such_column FROM range(3)").fetchall()

    result = dg.materialize([typo], instance=instance, raise_on_error=False)
    alert_on_failure(home, AlertsConfig(), instance, result)
    [alert] = alerts(home)
    assert alert["kind"] == "pipeline_failure"
    assert alert["details"]["failed_steps"]["transformed__typo"].startswith("_duckdb.BinderException: Binder Error:")


# -- through a transformation's crew run ------------------------------------------------------

FLIGHTS = [(i, f"c{i % 7}", f"o{i % 3}", float(i)) for i in range(20_000)]
# 20,000 x 2,000 pairs counted distinct: far more than 16MB of hash table.
PAIRS = {
    "name": "flight_pairs",
    "type": "aggregation",
    "sources": ["lake/flights"],
    "rules": [{"sql": 'SELECT a.carrier, count(DISTINCT a.id * 100000 + b.id) AS pairs'
                      ' FROM "lake/flights" AS a, "lake/flights" AS b WHERE b.id < 2000 GROUP BY a.carrier'}],
    "target_schema": {"columns": [{"name": "carrier", "type": "VARCHAR"}, {"name": "pairs", "type": "BIGINT"}]},
    "owner": "team:analytics",
    "agent": "etl-architect-1",
}


def crew_home(root: Path, **settings) -> Home:
    return small_home(root, flights=FLIGHTS, spec=PAIRS, config={
        "sources": [{"name": "lake", "type": "data_lake", "uri": "sources/lake", "owner": "team:flight-ops"}],
        "transformations": "specs/*.yaml",
        **settings,
    })


def materialize_pairs(home: Home, instance: dg.DagsterInstance):
    job = build_definitions(home).resolve_job_def(TRANSFORM_JOB)
    result = job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey(["transformed", "flight_pairs"])], raise_on_error=False
    )
    assert not result.success
    return result


def test_a_transformation_out_of_memory_is_resource_exhaustion(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    home = crew_home(tmp_path / "home", engine={"memory_limit": "16MB", "threads": 1}, llm={"max_iterations": 3})
    result = materialize_pairs(home, instance)
    alert_on_failure(home, AlertsConfig(), instance, result)

    [alert] = alerts(home)
    assert alert["kind"] == "resource_exhaustion"
    assert alert["title"] == f"Run of job {TRANSFORM_JOB} ran out of memory (memory_limit)"
    assert alert["details"]["resource"] == "memory"
    # The crew run reports the engine's failure; DuckDB's words survive in it.
    assert re.fullmatch(
        r"Out of Memory Error: (could not|failed to) allocate .+ \([\d.]+ [KM]iB/15\.2 MiB used\)",
        alert["details"]["error"],
    )
    [step] = alert["details"]["failed_steps"].values()
    assert step.startswith("datacrew_resources.crew.models.CrewRunFailed: flight_pairs: execute_transformation failed:")


def test_a_transformation_over_its_temp_directory_limit_is_resource_exhaustion(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    home = crew_home(tmp_path / "home", engine={"memory_limit": "32MB", "threads": 1, "max_temp_directory_size": "1MB"})
    result = materialize_pairs(home, instance)
    alert_on_failure(home, AlertsConfig(), instance, result)

    [alert] = alerts(home)
    assert alert["title"] == f"Run of job {TRANSFORM_JOB} filled its temp directory (max_temp_directory_size)"
    assert alert["details"]["resource"] == "temp_directory"


def test_the_crew_run_time_limit_is_resource_exhaustion(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    # 10 ms: the crew cannot even make its first model call in time.
    home = crew_home(tmp_path / "home", llm={"timeout_seconds": 0.01})
    result = materialize_pairs(home, instance)
    alert_on_failure(home, AlertsConfig(), instance, result)

    [alert] = alerts(home)
    assert alert["kind"] == "resource_exhaustion"
    assert alert["title"] == f"Run of job {TRANSFORM_JOB} ran out of time (llm.timeout_seconds)"
    assert alert["details"]["resource"] == "time"
    assert alert["details"]["error"] == "time limit of 0.01s exceeded (llm.timeout_seconds)"
    assert alert["details"]["failed_steps"] == {
        "transformed__flight_pairs": "datacrew_resources.crew.limits.LimitReached: "
        "time limit of 0.01s exceeded (llm.timeout_seconds)"
    }
