"""`request_delegation`: an agent asks a peer for work during a crew run; the request is queued.

The tool only submits: the request waits, pending, in the home's store for the
delegation gate. Tested over the real workbench, then end to end through the
transformation job with a hosted (scripted) model that asks before validating.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from datacrew_resources.config import Home
from datacrew_resources.config.spec import find_spec
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.delegation.states import PENDING
from datacrew_resources.engine import Engine
from datacrew_resources.workbench import EngineWorkbench
from tests.fakes.chat_server import ScriptedChatServer, tool_call
from tests.fakes.scripted_model import (
    ScriptedModel,
    execution_answer,
    plan_answer,
    tool_results,
    validation_answer,
)

from .small_home import small_home
from .test_hosted_llm import DUMMY_KEY, FLIGHTS, KEY_ENV, MODEL, loopback_only  # noqa: F401 - a fixture

AGENT = "etl-architect-1"  # the spec's agent: the run works, and asks, as this agent
PEER = "quality-validator-1"
TASK_TYPE = "data_validation"
FACTS = {"data_quality_threshold": 0.95}

SPEC = {
    "name": "delays_by_carrier",
    "type": "aggregation",
    "description": "Flights and mean departure delay per airline",
    "sources": ["lake/flights"],
    "rules": [
        {"filter": "dep_delay IS NOT NULL"},
        {"group_by": ["carrier"]},
        {"aggregate": {"flights": "count(*)", "avg_dep_delay": "avg(dep_delay)"}},
    ],
    "target_schema": {
        "columns": [
            {"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
            {"name": "flights", "type": "BIGINT", "min": 0},
            {"name": "avg_dep_delay", "type": "DOUBLE"},
        ]
    },
    "owner": "team:analytics",
    "agent": AGENT,
}


def _config(llm: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "sources": [{"name": "lake", "type": "data_lake", "uri": "sources/lake", "owner": "team:flight-ops"}],
        "agents": [
            {"id": AGENT, "authority": "STAGE_COORDINATOR", "role": "etl_architect"},
            {"id": PEER, "authority": "PIPELINE_COLLABORATOR", "role": "quality_validator",
             "specializations": {TASK_TYPE: 1.3}},
        ],
        "task_types": {TASK_TYPE: {"job": "materialize_transformations"}},
        "transformations": "specs/*.yaml",
        **({"llm": llm} if llm else {}),
    }


def _write_config(home: Home, llm: dict[str, Any] | None = None) -> None:
    home.config_path.write_text(yaml.safe_dump(_config(llm), sort_keys=False))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A small discovered home: one lake file of flights, one spec, a roster and a task type."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return small_home(tmp_path / "home", flights=FLIGHTS, spec=SPEC, config=_config())


def _stored(home: Home) -> list[Any]:
    return Delegation(home).store.list()


# -- the tool over the real workbench -------------------------------------------------


@pytest.fixture
def delegation_tool(home: Home, crewai_storage):
    """request_delegation over an EngineWorkbench whose delegator submits as AGENT."""
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    config = home.load_config()
    specs = home.load_specs(config)
    spec = find_spec(specs, "delays_by_carrier").spec
    workbench = EngineWorkbench(
        Engine({}, output_dir=home.outputs_dir, temp_dir=home.tmp_dir),
        spec,
        output_path=home.root / "out.parquet",
        spec_file="specs/delays_by_carrier.yaml",
        delegator=lambda **request: Delegation(home, config, specs).submit(requester=AGENT, **request),
    )
    trace = ToolTrace()
    return build_tools(workbench, trace)["request_delegation"], trace


def test_a_good_request_is_stored_pending_as_the_runs_agent(home, delegation_tool):
    tool, trace = delegation_tool
    answer = json.loads(tool.run(target=PEER, task_type=TASK_TYPE, priority="high", facts=FACTS))

    [request] = _stored(home)
    assert answer == {"request_id": request.id, "state": PENDING, "target": PEER, "task_type": TASK_TYPE}
    assert (request.requester, request.target, request.task_type, request.state) == (
        AGENT, PEER, TASK_TYPE, PENDING,
    )
    assert request.priority.name == "HIGH" and request.facts == FACTS
    assert request.work_target == "materialize_transformations"
    [record] = trace.records
    assert record.tool == "request_delegation" and record.ok


def test_priority_and_facts_default(home, delegation_tool):
    tool, _ = delegation_tool
    tool.run(target=PEER, task_type=TASK_TYPE)
    [request] = _stored(home)
    assert request.priority.name == "MEDIUM" and request.facts == {}


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"target": "nobody-1", "task_type": TASK_TYPE}, "'nobody-1'"),
        ({"target": PEER, "task_type": "world_domination"}, "'world_domination'"),
        ({"target": PEER, "task_type": TASK_TYPE, "priority": "whenever"}, "'whenever'"),
    ],
)
def test_a_bad_request_is_an_error_answer_and_stores_nothing(home, delegation_tool, arguments, named):
    tool, trace = delegation_tool
    answer = tool.run(**arguments).as_agent_message()
    assert answer.startswith("ERROR: ") and named in answer
    assert "\n" not in answer
    assert _stored(home) == []
    assert not trace.records[-1].ok


def test_without_a_delegator_delegation_is_refused(home, crewai_storage):
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    spec = find_spec(home.load_specs(home.load_config()), "delays_by_carrier").spec
    workbench = EngineWorkbench(
        Engine({}, output_dir=home.outputs_dir, temp_dir=home.tmp_dir),
        spec,
        output_path=home.root / "out.parquet",
        spec_file="specs/delays_by_carrier.yaml",
    )
    tool = build_tools(workbench, ToolTrace())["request_delegation"]
    answer = tool.run(target=PEER, task_type=TASK_TYPE)
    assert answer.as_agent_message() == "ERROR: delegation is not available in this run"
    assert _stored(home) == []


def test_the_validator_is_offered_the_tool_and_the_planner_never_calls_it():
    from datacrew_resources.crew.planner_llm import TOOL_ORDER
    from datacrew_resources.crew.runner import TASKS

    assert "request_delegation" in TASKS["validate_output"][1]
    others = [tools for name, (_, tools) in TASKS.items() if name != "validate_output"]
    assert all("request_delegation" not in tools for tools in others)
    assert "request_delegation" not in TOOL_ORDER


# -- end to end: a hosted model asks for a re-check, then validates -------------------


def test_a_crew_run_submits_the_models_request_and_still_materializes(
    home, monkeypatch, loopback_only  # noqa: F811 - the fixture imported above
):
    from datacrew_assets.definitions import build_definitions
    from datacrew_assets.jobs import TRANSFORM_JOB

    monkeypatch.setenv(KEY_ENV, DUMMY_KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = ScriptedModel(
        plan=[tool_call("inspect_dataset", {"key": "lake/flights"}), tool_call("compile_plan"), plan_answer],
        execute=[tool_call("execute_plan"), execution_answer],
        validate=[
            tool_call(
                "request_delegation",
                {"target": PEER, "task_type": TASK_TYPE, "priority": "high", "facts": FACTS},
            ),
            tool_call("validate_output"),
            validation_answer,
        ],
    )
    with ScriptedChatServer(model) as server:
        _write_config(home, {"model": MODEL, "base_url": server.base_url, "api_key_env": KEY_ENV})
        job = build_definitions(home).resolve_job_def(TRANSFORM_JOB)
        result = job.execute_in_process(
            instance=dg.DagsterInstance.get(),
            asset_selection=[dg.AssetKey(["transformed", "delays_by_carrier"])],
            raise_on_error=False,
        )
    assert server.unexpected == []
    assert result.success

    [request] = _stored(home)
    assert (request.requester, request.target, request.task_type, request.state) == (
        AGENT, PEER, TASK_TYPE, PENDING,
    )
    assert request.priority.name == "HIGH" and request.facts == FACTS

    # The validator was offered both tools, and the model saw the stored request's id.
    first, second = [i for i in range(len(server.requests)) if "validate_output" in server.offered_tools(i)][:2]
    assert server.offered_tools(first) == ["validate_output", "request_delegation"]
    assert json.loads(tool_results(server.requests[second])[-1])["request_id"] == request.id
    # The other tasks were not offered it.
    assert all("request_delegation" not in server.offered_tools(i) for i in range(first))

    [materialization] = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert metadata["dagster/row_count"].value == 4
    calls = [(c["tool"], c["ok"]) for c in metadata["datacrew/tool_calls"].value]
    assert calls == [
        ("inspect_dataset", True),
        ("compile_plan", True),
        ("execute_plan", True),
        ("request_delegation", True),
        ("validate_output", True),
    ]
