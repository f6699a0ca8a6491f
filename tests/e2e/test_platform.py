"""The running platform through its GraphQL API: a launched job, a delegated request launched by
the gate sensor, scheduled ticks (of a datacrew.yaml schedule and of a spec's), and the asset
graph against the specs."""

from __future__ import annotations

from dagster import DagsterRunStatus

from datacrew_assets.delegation import GATE_SENSOR, REQUEST_TAG
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.delegation.service import Delegation

from .conftest import (
    AGENT, REQUESTER, SCHEDULE, SCHEDULED_SPEC, SPEC_SCHEDULE, TASK_TYPE, E2EHome, FinishedRun, Launched,
)
from .dagster_dev import DagsterDev
from .queries import (
    ASSET_NODES, SENSOR_STATE, TERMINAL, check_results, key_strings, materialized_keys, run_events, runs_tagged,
    sensor_selector,
)

TASK_JOB = f"task_{TASK_TYPE}"


def spec_sources(e2e_home: E2EHome) -> dict[str, set[str]]:
    home = e2e_home.home
    return {l.spec.key_string: set(l.spec.sources) for l in home.load_specs(home.load_config())}


def asset_nodes(platform: DagsterDev) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in platform.graphql(ASSET_NODES)["assetNodes"]}


def finished_run_of_request(platform: DagsterDev, request_id: str) -> dict:
    """The one run launched for `request_id`, once it has finished."""

    def finished():
        runs = runs_tagged(platform, REQUEST_TAG, request_id)
        return runs if runs and all(r["status"] in TERMINAL for r in runs) else None

    runs = platform.wait_for(finished, f"the run of request {request_id} to finish")
    assert len(runs) == 1, runs
    return runs[0]


def assert_checked_materializations(platform: DagsterDev, run_id: str, expected: set[str]) -> None:
    """Each asset of `expected`, and no other, was materialized in the run, and every check
    defined on it was evaluated there and passed."""
    events = run_events(platform, run_id)
    assert sorted(materialized_keys(events)) == sorted(expected)
    results = check_results(events)
    nodes = asset_nodes(platform)
    for key in expected:
        defined = {c["name"] for c in nodes[key]["assetChecksOrError"]["checks"]}
        assert defined, f"{key} has no checks"
        assert {k: v for k, v in results.items() if k[0] == key} == {(key, name): True for name in defined}


def test_transformation_job_succeeds_with_materializations_and_check_results(platform, e2e_home, transformation_run):
    run: FinishedRun = transformation_run
    assert run.status == DagsterRunStatus.SUCCESS, f"run {run.run_id}; log {platform.log}"
    home = e2e_home.home
    # The job holds every unpartitioned transformation (partitioned ones run per partition).
    in_job = {l.spec.key_string: set(l.spec.sources) for l in home.load_specs(home.load_config())
              if not l.spec.partitions}
    assert_checked_materializations(platform, run.run_id, set(in_job))
    # The checks of the discovered datasets they read ran in the same run, and passed.
    inputs = set().union(*in_job.values()) - set(in_job)
    dataset_checks = {k: v for k, v in check_results(run_events(platform, run.run_id)).items() if k[0] in inputs}
    assert {key for key, _ in dataset_checks} == inputs
    assert all(dataset_checks.values()), dataset_checks


def test_gate_sensor_launches_a_submitted_request(platform, e2e_home, launched: Launched):
    selector = sensor_selector(GATE_SENSOR)
    run = finished_run_of_request(platform, launched.request_id)
    assert (run["jobName"], run["status"]) == (TASK_JOB, "SUCCESS"), f"run {run['runId']}; log {platform.log}"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/run_key"] == launched.request_id
    assert (tags["datacrew/requester"], tags["datacrew/agent"]) == (REQUESTER, AGENT)
    state = platform.graphql(SENSOR_STATE, {"selector": selector})["sensorOrError"]["sensorState"]
    assert state["status"] == "RUNNING"
    assert [t["status"] for t in state["ticks"] if run["runId"] in t["runIds"]] == ["SUCCESS"]
    task_assets = {"/".join(key) for key in Delegation(e2e_home.home).targets[TASK_TYPE].asset_keys}
    assert_checked_materializations(platform, run["runId"], task_assets)
    # The ledger sensor closes the request when its run succeeds.
    closed = platform.wait_for(
        lambda: (shown := e2e_home.datacrew_json("requests", "show", launched.request_id))["state"] == "succeeded" and shown,
        f"request {launched.request_id} to be marked succeeded")
    assert closed["run_id"] == run["runId"]


def test_a_schedule_tick_submits_a_request_the_gate_launches(platform, scheduled_requests: dict[str, str]):
    request_id = scheduled_requests[SCHEDULE]
    run = finished_run_of_request(platform, request_id)
    assert (run["jobName"], run["status"]) == (TASK_JOB, "SUCCESS"), f"run {run['runId']}; log {platform.log}"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags["dagster/run_key"], tags["datacrew/requester"], tags["datacrew/agent"]) == (
        request_id, REQUESTER, AGENT)


def test_a_spec_schedule_tick_materializes_that_spec_alone(platform, e2e_home, scheduled_requests: dict[str, str]):
    request_id = scheduled_requests[SPEC_SCHEDULE]
    run = finished_run_of_request(platform, request_id)
    job = f"task_scheduled_{SCHEDULED_SPEC}"
    assert (run["jobName"], run["status"]) == (job, "SUCCESS"), f"run {run['runId']}; log {platform.log}"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    # Requester and task type were defaulted from rule 2, the first that reaches the agent.
    assert (tags["dagster/run_key"], tags["datacrew/requester"], tags["datacrew/agent"]) == (
        request_id, REQUESTER, AGENT)
    request = e2e_home.datacrew_json("requests", "show", request_id)
    assert request["task_type"] == f"scheduled_{SCHEDULED_SPEC}"
    spec_key = next(key for key in spec_sources(e2e_home) if key.endswith(f"/{SCHEDULED_SPEC}"))
    assert_checked_materializations(platform, run["runId"], {spec_key})


def test_asset_graph_upstream_and_downstream_match_the_specs(platform, e2e_home):
    nodes = asset_nodes(platform)
    sources = spec_sources(e2e_home)
    discovered = {r.key_string for r in CatalogStore(e2e_home.home.catalog_path).all()}
    assert set(nodes) == discovered | set(sources)
    for key, node in nodes.items():
        assert key_strings(node["dependencyKeys"]) == sources.get(key, set()), key
        assert key_strings(node["dependedByKeys"]) == {reader for reader, read in sources.items() if key in read}, key
        assert node["isMaterializable"] == (key in sources), key
    assert {nodes[k]["groupName"] for k in sources} == {"transformed"}
