"""The GraphQL the e2e tests send to the webserver, and small readers of its answers."""

from __future__ import annotations

from typing import Any

from .dagster_dev import LOCATION, REPOSITORY, DagsterDev

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId jobName status tags { key value } } }
    ... on PythonError { message }
  }
}
"""

RUN_EVENTS = """
query RunEvents($runId: ID!, $after: String) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      eventConnection(afterCursor: $after, limit: 1000) {
        cursor
        hasMore
        events {
          __typename
          ... on MaterializationEvent { assetKey { path } }
          ... on AssetCheckEvaluationEvent { evaluation { checkName success assetKey { path } } }
        }
      }
    }
  }
}
"""

ASSET_NODES = """
query AssetNodes {
  assetNodes {
    assetKey { path }
    groupName
    isMaterializable
    dependencyKeys { path }
    dependedByKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""

LATEST_MATERIALIZATION = """
query Latest($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1) { runId metadataEntries { label ... on IntMetadataEntry { intValue } } }
    }
  }
}
"""

SENSOR_STATE = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { id status ticks(limit: 100) { status runIds skipReason } } }
  }
}
"""

START_SENSOR = """
mutation StartSensor($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) { __typename ... on Sensor { sensorState { status } } }
}
"""

SCHEDULE_STATE = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule { scheduleState { id status ticks(limit: 20) { status timestamp skipReason error { message } } } }
  }
}
"""

STOP_SCHEDULE = """
mutation StopSchedule($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""


def sensor_selector(name: str) -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}


def schedule_selector(name: str) -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": name}


def runs_tagged(dev: DagsterDev, key: str, value: str) -> list[dict[str, Any]]:
    answer = dev.graphql(RUNS, {"filter": {"tags": [{"key": key, "value": value}]}})["runsOrError"]
    assert answer["__typename"] == "Runs", answer
    return answer["results"]


def run_events(dev: DagsterDev, run_id: str) -> list[dict[str, Any]]:
    """Every event of the run, page by page."""
    events, after = [], None
    while True:
        run = dev.graphql(RUN_EVENTS, {"runId": run_id, "after": after})["runOrError"]
        assert run["__typename"] == "Run", run
        page = run["eventConnection"]
        events += page["events"]
        if not page["hasMore"]:
            return events
        after = page["cursor"]


def materialized_keys(events: list[dict[str, Any]]) -> list[str]:
    return ["/".join(e["assetKey"]["path"]) for e in events if e["__typename"] == "MaterializationEvent"]


def check_results(events: list[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """(asset key, check name) -> passed, for every check evaluated in the run."""
    return {("/".join(e["evaluation"]["assetKey"]["path"]), e["evaluation"]["checkName"]): e["evaluation"]["success"]
            for e in events if e["__typename"] == "AssetCheckEvaluationEvent"}


def key_strings(keys: list[dict[str, Any]]) -> set[str]:
    return {"/".join(k["path"]) for k in keys}
