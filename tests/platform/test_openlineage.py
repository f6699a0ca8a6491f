"""OpenLineage run events of real transformation materializations: file, HTTP, failures, config."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
)
from openlineage.client.serde import Serde

from datacrew_resources.config import ConfigErrors, Home
from datacrew_resources.lineage_events import lineage_run_id
from datacrew_resources.lineage_events.datasets import located

from tests.http_receiver import JsonReceiver

from .conftest import run_assets

DELAYS = "transformed/delays_by_carrier"
EVENTS_FILE = Path("state") / "openlineage.jsonl"


def _configure(home: Home, settings: str) -> None:
    with home.config_path.open("a") as config:
        config.write(f"\nopenlineage: {settings}\n")


def _file_events(home: Home) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home.root / EVENTS_FILE).read_text().splitlines()]


def _materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    [materialization] = result.asset_materializations_for_node("transformed__delays_by_carrier")
    return materialization


def _openlineage_warnings(result: dg.ExecuteInProcessResult) -> list[str]:
    logs = dg.DagsterInstance.get().all_logs(result.run_id)
    return [e.user_message for e in logs if e.level == logging.WARNING and "OpenLineage" in e.user_message]


def _assert_delays_events(events: list[dict[str, Any]], home: Home, result: dg.ExecuteInProcessResult) -> None:
    """START then COMPLETE of delays_by_carrier, with the exact facets its materialization implies."""
    start, complete = events
    namespace = home.root.as_uri()
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    run_id = lineage_run_id(result.run_id, DELAYS)
    for event in events:
        assert event["run"]["runId"] == run_id
        assert (event["job"]["namespace"], event["job"]["name"]) == ("datacrew", "transformed.delays_by_carrier")
        assert event["run"]["facets"]["parent"]["run"]["runId"] == result.run_id
        assert event["run"]["facets"]["parent"]["job"]["name"] == "materialize_transformations"
        assert [(i["namespace"], i["name"]) for i in event["inputs"]] == [
            (namespace, "lake/flights"), (namespace, "warehouse/airlines")]
        assert [i["facets"]["dataSource"]["name"] for i in event["inputs"]] == ["lake", "warehouse"]
        assert event["inputs"][1]["facets"]["dataSource"]["uri"] == (home.root / "sources" / "warehouse.duckdb").as_uri()
        assert [(o["namespace"], o["name"]) for o in event["outputs"]] == [(namespace, DELAYS)]
    assert "schema" not in start["outputs"][0]["facets"] and "sql" not in start["job"]["facets"]

    [output] = complete["outputs"]
    materialization = _materialization(result)
    assert [(f["name"], f["type"], f["ordinal_position"]) for f in output["facets"]["schema"]["fields"]] == [
        ("carrier", "VARCHAR", 1), ("name", "VARCHAR", 2), ("flights", "BIGINT", 3),
        ("avg_dep_delay", "DOUBLE", 4), ("avg_arr_delay", "DOUBLE", 5),
    ]
    lineage = {
        column: [(f["name"], f["field"], f["transformations"][0]["type"], f["transformations"][0]["subtype"])
                 for f in fields["inputFields"]]
        for column, fields in output["facets"]["columnLineage"]["fields"].items()
    }
    assert lineage == {
        "carrier": [("lake/flights", "carrier", "DIRECT", "IDENTITY")],
        "name": [("warehouse/airlines", "name", "DIRECT", "IDENTITY")],
        "flights": [],  # count(*) reads no column
        "avg_dep_delay": [("lake/flights", "dep_delay", "DIRECT", "AGGREGATION")],
        "avg_arr_delay": [("lake/flights", "arr_delay", "DIRECT", "AGGREGATION")],
    }
    assert {f["namespace"] for fields in output["facets"]["columnLineage"]["fields"].values()
            for f in fields["inputFields"]} == {namespace}
    written = materialization.metadata["dagster/uri"].value
    assert output["facets"]["dataSource"] == {
        **output["facets"]["dataSource"], "name": "outputs", "uri": Path(written).as_uri()}
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == materialization.metadata["dagster/row_count"].value == 16
    sql = complete["job"]["facets"]["sql"]
    assert sql["dialect"] == "duckdb"
    assert f"```sql\n{sql['query']}\n```" == materialization.metadata["datacrew/sql"].value


def _facet(kind: type, data: dict[str, Any], **nested: Any) -> Any:
    fields = {k: v for k, v in data.items() if not k.startswith("_")}
    return kind(**{**fields, **nested}, producer=data["_producer"])


def _dataset_facets(facets: dict[str, Any]) -> dict[str, Any]:
    rebuilt = {"dataSource": _facet(datasource_dataset.DatasourceDatasetFacet, facets["dataSource"])}
    if "schema" in facets:
        rebuilt["schema"] = _facet(schema_dataset.SchemaDatasetFacet, facets["schema"], fields=[
            schema_dataset.SchemaDatasetFacetFields(**f) for f in facets["schema"]["fields"]])
    if "columnLineage" in facets:
        cl = column_lineage_dataset
        rebuilt["columnLineage"] = _facet(cl.ColumnLineageDatasetFacet, facets["columnLineage"], fields={
            column: cl.Fields(inputFields=[
                cl.InputField(**{**f, "transformations": [cl.Transformation(**t) for t in f["transformations"]]})
                for f in value["inputFields"]])
            for column, value in facets["columnLineage"]["fields"].items()
        })
    return rebuilt


def _rebuilt(event: dict[str, Any]) -> RunEvent:
    """`event` rebuilt from openlineage-python's own models (each validates its fields: UUID run ids,
    ISO event times, required facet fields)."""
    run_facets = event["run"]["facets"]
    rebuilt_run = {
        "processing_engine": _facet(processing_engine_run.ProcessingEngineRunFacet, run_facets["processing_engine"]),
        "parent": _facet(
            parent_run.ParentRunFacet, run_facets["parent"],
            run=parent_run.Run(**run_facets["parent"]["run"]), job=parent_run.Job(**run_facets["parent"]["job"])),
    }
    if "errorMessage" in run_facets:
        rebuilt_run["errorMessage"] = _facet(error_message_run.ErrorMessageRunFacet, run_facets["errorMessage"])
    job_facets = {"jobType": _facet(job_type_job.JobTypeJobFacet, event["job"]["facets"]["jobType"])}
    if "sql" in event["job"]["facets"]:
        job_facets["sql"] = _facet(sql_job.SQLJobFacet, event["job"]["facets"]["sql"])
    outputs = []
    for output in event["outputs"]:
        statistics = output["outputFacets"].get("outputStatistics")
        outputs.append(OutputDataset(
            namespace=output["namespace"], name=output["name"], facets=_dataset_facets(output["facets"]),
            outputFacets={"outputStatistics": _facet(
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet, statistics)} if statistics else {},
        ))
    return RunEvent(
        eventType=RunState(event["eventType"]), eventTime=event["eventTime"], producer=event["producer"],
        run=Run(runId=event["run"]["runId"], facets=rebuilt_run),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"], facets=job_facets),
        inputs=[InputDataset(namespace=i["namespace"], name=i["name"], facets=_dataset_facets(i["facets"]))
                for i in event["inputs"]],
        outputs=outputs,
    )


def test_a_materialization_writes_start_and_complete_events_to_the_home_jsonl(home):
    result = run_assets(home, DELAYS)
    assert result.success
    events = _file_events(home)
    _assert_delays_events(events, home, result)
    for event in events:
        assert Serde.to_dict(_rebuilt(event)) == event  # nothing the client's models would not hold
    assert _openlineage_warnings(result) == []


def test_http_transport_posts_the_same_events_with_the_bearer_token(home, monkeypatch):
    monkeypatch.setenv("LINEAGE_TOKEN", "t0ken")
    with JsonReceiver(path="/api/v1/lineage", status=201) as receiver:
        _configure(home, f"{{transport: http, url: '{receiver.url}', timeout_seconds: 5, api_key_env: LINEAGE_TOKEN}}")
        result = run_assets(home, DELAYS)
    assert result.success
    assert [r["path"] for r in receiver.requests] == ["/api/v1/lineage"] * 2
    assert {r["headers"]["Authorization"] for r in receiver.requests} == {"Bearer t0ken"}
    _assert_delays_events(receiver.payloads, home, result)
    assert not (home.root / EVENTS_FILE).exists()
    assert _openlineage_warnings(result) == []


def test_an_unreachable_endpoint_logs_one_warning_and_keeps_the_events_in_the_file(home):
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _configure(home, f"{{transport: http, url: 'http://127.0.0.1:{port}/api/v1/lineage', timeout_seconds: 2}}")
    result = run_assets(home, DELAYS)
    assert result.success
    [warning] = _openlineage_warnings(result)
    assert warning.startswith(f"OpenLineage: cannot post the START event of {DELAYS} (http://127.0.0.1:{port}/api/v1/lineage unreachable")
    assert warning.endswith(f"this run's events are kept in {home.root / EVENTS_FILE}")
    _assert_delays_events(_file_events(home), home, result)
    assert _materialization(result).metadata["dagster/row_count"].value == 16


def test_a_failing_crew_run_emits_fail_and_the_step_still_fails(home):
    spec = home.root / "specs" / "delays_by_carrier.yaml"
    spec.write_text(spec.read_text().replace("{name: carrier, type: VARCHAR,", "{name: carrier, type: INTEGER,"))
    result = run_assets(home, DELAYS)
    assert not result.success
    start, fail = _file_events(home)
    assert [start["eventType"], fail["eventType"]] == ["START", "FAIL"]
    assert fail["run"]["runId"] == start["run"]["runId"] == lineage_run_id(result.run_id, DELAYS)
    error = fail["run"]["facets"]["errorMessage"]
    assert error["programmingLanguage"] == "python"
    assert "column 'carrier' (INTEGER): cannot convert value" in error["message"]
    assert [o["name"] for o in fail["outputs"]] == [DELAYS] and "schema" not in fail["outputs"][0]["facets"]
    assert Serde.to_dict(_rebuilt(fail)) == fail
    [step_failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "cannot convert value" in step_failure.step_failure_data.error.message


def test_transport_none_emits_nothing(home):
    _configure(home, "{transport: none}")
    result = run_assets(home, DELAYS)
    assert result.success
    assert not (home.root / EVENTS_FILE).exists()


def test_an_unwritable_file_logs_one_warning_and_the_materialization_succeeds(home):
    (home.root / "state" / "openlineage.jsonl").mkdir(parents=True)  # a directory where the file should be
    result = run_assets(home, DELAYS)
    assert result.success
    [warning] = _openlineage_warnings(result)
    assert warning.startswith(f"OpenLineage: {DELAYS}: cannot write {home.root / EVENTS_FILE}: ")
    assert warning.endswith("the START event is lost; no more events for this run")
    assert _materialization(result).metadata["dagster/row_count"].value == 16


@pytest.mark.parametrize(
    "settings, expected",
    [
        ("{transport: kafka}", "datacrew.yaml: openlineage.transport: 'kafka': Input should be 'file', 'http' or 'none'"),
        ("{transport: http}", "datacrew.yaml: openlineage: {'transport': 'http'}: transport 'http' needs a url"),
        ("{url: 'ftp://lineage'}", "datacrew.yaml: openlineage.url: 'ftp://lineage': must be an http:// or https:// URL"),
        ("{timeout_seconds: 0}", "datacrew.yaml: openlineage.timeout_seconds: 0: Input should be greater than 0"),
        ("{namespace: 'my jobs'}", "datacrew.yaml: openlineage.namespace: 'my jobs': must be a non-empty name without spaces"),
        ("{file: ../events.jsonl}", "datacrew.yaml: openlineage.file: '../events.jsonl': must be a relative path inside the home, without '..'"),
        ("{api_key_env: 1TOKEN}", "datacrew.yaml: openlineage.api_key_env: '1TOKEN': must be an environment variable name"),
        ("{endpoint: x}", "datacrew.yaml: openlineage.endpoint: 'x': Extra inputs are not permitted"),
    ],
)
def test_bad_openlineage_settings_are_one_line_errors(tmp_path, settings, expected):
    (tmp_path / "datacrew.yaml").write_text(f"openlineage: {settings}\n")
    with pytest.raises(ConfigErrors) as caught:
        Home(tmp_path).load_config()
    [line] = str(caught.value).splitlines()
    assert line.startswith(expected), line


def test_run_ids_are_uuids_of_the_dagster_run_and_asset():
    first = lineage_run_id("0d5202a2-6b62-44ec-8c3c-464f525d6f6d", DELAYS)
    assert first == lineage_run_id("0d5202a2-6b62-44ec-8c3c-464f525d6f6d", DELAYS)
    assert first != lineage_run_id("0d5202a2-6b62-44ec-8c3c-464f525d6f6d", "transformed/flights_clean")
    assert first != lineage_run_id("1d5202a2-6b62-44ec-8c3c-464f525d6f6d", DELAYS)
    assert Run(runId=first).runId == first  # the client's model accepts it


def test_dataset_namespaces_come_from_where_sources_live_without_credentials(tmp_path):
    home = Home(tmp_path)
    assert located("s3://flights-bucket/raw/lake", home) == ("s3://flights-bucket", "s3://flights-bucket/raw/lake")
    assert located("postgresql://etl:secret@db.internal:5432/analytics?sslmode=require", home) == (
        "postgresql://db.internal:5432", "postgresql://db.internal:5432/analytics")
    assert located("sources/lake", home) == (tmp_path.as_uri(), (tmp_path / "sources" / "lake").as_uri())


def test_loading_definitions_does_not_import_openlineage(home):
    code = (
        "import sys; from datacrew_assets.definitions import build_definitions;"
        "from datacrew_resources.config import Home;"
        f"build_definitions(Home.resolve({str(home.root)!r}));"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'openlineage'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
