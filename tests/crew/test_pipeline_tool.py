"""`data_pipeline_orchestrator`: the crew's view of Dagster's records is `datacrew status --json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from datacrew_assets.cli import main
from datacrew_assets.definitions import build_definitions
from datacrew_assets.jobs import TRANSFORM_JOB
from datacrew_assets.pipeline_status import PipelineStatus
from datacrew_resources.config import Home

from .fakes import FakeWorkbench
from .small_home import small_home
from .test_hosted_llm import FLIGHTS, loopback_only  # noqa: F401 - a fixture
from .test_request_delegation import SPEC, _config

KEY = "transformed/delays_by_carrier"


@dataclass
class RecordsWorkbench(FakeWorkbench):
    """A stand-in workbench that also reports on the pipeline, as the Dagster side injects it."""

    home: Home | None = None

    def pipeline_report(self, action: str, key: str | None = None, hours: float | None = None) -> dict[str, Any]:
        return PipelineStatus(self.home).report(action, key, hours)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A small home whose transformation ran once through the transformation job."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = small_home(tmp_path / "home", flights=FLIGHTS, spec=SPEC, config=_config())
    result = build_definitions(home).resolve_job_def(TRANSFORM_JOB).execute_in_process(
        instance=dg.DagsterInstance.get(), raise_on_error=False)
    assert result.success
    return home


@pytest.fixture
def pipeline_tool(home: Home, crewai_storage):
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    trace = ToolTrace()
    return build_tools(RecordsWorkbench(home=home), trace)["data_pipeline_orchestrator"], trace


def _cli_json(capsys, home: Home, *args: str) -> dict[str, Any]:
    assert main(["status", *args, "--home", str(home.root), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _without_clock(report: dict[str, Any]) -> dict[str, Any]:
    """The report minus the window's start, which moves with the clock between two calls."""
    if "window" in report:
        report = {**report, "window": {k: v for k, v in report["window"].items() if k != "since"}}
    return report


@pytest.mark.parametrize(("arguments", "cli"), [
    ({"action": "status"}, []),
    ({"action": "status", "key": KEY}, [KEY]),
    ({"action": "monitor"}, ["monitor"]),
    ({"action": "monitor", "hours": 2.5}, ["monitor", "--hours", "2.5"]),
    ({"action": "lineage", "key": KEY}, ["lineage", KEY]),
    ({"action": "optimize"}, ["optimize"]),
])
def test_the_tool_answers_what_the_cli_prints(home, pipeline_tool, capsys, arguments, cli):
    tool, trace = pipeline_tool
    answer = json.loads(tool.run(**arguments))
    assert _without_clock(answer) == _without_clock(_cli_json(capsys, home, *cli))
    [record] = trace.records
    # CrewAI validates the arguments first: the record holds the defaults it filled in.
    assert (record.tool, record.arguments, record.ok) == (
        "data_pipeline_orchestrator", {"key": None, "hours": None, **arguments}, True)


def test_the_answer_holds_the_recorded_run(home, pipeline_tool):
    tool, _ = pipeline_tool
    [run] = dg.DagsterInstance.get().get_run_records()
    status = json.loads(tool.run(action="status", key=KEY))
    [asset] = status["assets"]
    assert asset["last_materialization"]["run_id"] == run.dagster_run.run_id
    assert asset["last_materialization"]["row_count"] == 4  # AA, UA, DL, B6
    monitor = json.loads(tool.run(action="monitor"))
    assert monitor["runs"]["total"] == 1 and monitor["runs"]["by_status"] == {"SUCCESS": 1}
    assert monitor["runs"]["duration_seconds"]["mean"] == run.end_time - run.start_time


@pytest.mark.parametrize(("arguments", "named"), [
    ({"action": "status", "key": "lake/nothing"}, "KEY: 'lake/nothing': no such asset or job"),
    ({"action": "lineage"}, "KEY: None: lineage needs an asset key"),
    ({"action": "monitor", "hours": -1}, "hours: -1.0: must be a positive number of hours"),
])
def test_bad_arguments_are_one_line_errors(pipeline_tool, arguments, named):
    tool, trace = pipeline_tool
    answer = tool.run(**arguments).as_agent_message()
    assert answer.startswith(f"ERROR: {named}") and "\n" not in answer
    assert not trace.records[-1].ok


def test_the_schema_offers_the_four_actions(pipeline_tool):
    from crewai.utilities.agent_utils import convert_tools_to_openai_schema

    tool, _ = pipeline_tool
    [schema], _, _ = convert_tools_to_openai_schema([tool])
    parameters = schema["function"]["parameters"]
    assert parameters["properties"]["action"]["enum"] == ["status", "monitor", "lineage", "optimize"]
    assert set(parameters["properties"]) == {"action", "key", "hours"}


def test_offered_only_over_a_workbench_that_reports_and_never_called_by_the_planner(crewai_storage):
    from datacrew_resources.crew.planner_llm import TOOL_ORDER
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    assert "data_pipeline_orchestrator" not in build_tools(FakeWorkbench(), ToolTrace())
    assert "data_pipeline_orchestrator" in build_tools(RecordsWorkbench(), ToolTrace())
    assert "data_pipeline_orchestrator" not in TOOL_ORDER


# -- end to end: the pipeline orchestrator reads the records before executing ---------


def test_in_a_crew_run_the_orchestrator_reads_the_previous_run(home, monkeypatch, loopback_only):  # noqa: F811
    from tests.fakes.chat_server import ScriptedChatServer, tool_call
    from tests.fakes.scripted_model import (
        ScriptedModel, execution_answer, plan_answer, tool_results, validation_answer,
    )

    from .test_hosted_llm import DUMMY_KEY, KEY_ENV, MODEL
    from .test_request_delegation import _write_config

    [previous] = dg.DagsterInstance.get().get_run_records()
    monkeypatch.setenv(KEY_ENV, DUMMY_KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = ScriptedModel(
        plan=[tool_call("inspect_dataset", {"key": "lake/flights"}), tool_call("compile_plan"), plan_answer],
        execute=[tool_call("data_pipeline_orchestrator", {"action": "status", "key": KEY}),
                 tool_call("execute_plan"), execution_answer],
        validate=[tool_call("validate_output"), validation_answer],
    )
    with ScriptedChatServer(model) as server:
        _write_config(home, {"model": MODEL, "base_url": server.base_url, "api_key_env": KEY_ENV})
        result = build_definitions(home).resolve_job_def(TRANSFORM_JOB).execute_in_process(
            instance=dg.DagsterInstance.get(), raise_on_error=False)
    assert server.unexpected == []
    assert result.success

    executing = [i for i in range(len(server.requests)) if "execute_plan" in server.offered_tools(i)]
    assert server.offered_tools(executing[0]) == ["execute_plan", "data_pipeline_orchestrator"]
    seen = json.loads(tool_results(server.requests[executing[1]])[-1])
    [asset] = seen["assets"]
    assert asset["last_materialization"]["run_id"] == previous.dagster_run.run_id
    assert asset["last_materialization"]["row_count"] == 4
    [materialization] = result.get_asset_materialization_events()
    calls = [(c["tool"], c["ok"]) for c in materialization.materialization.metadata["datacrew/tool_calls"].value]
    assert calls == [("inspect_dataset", True), ("compile_plan", True), ("data_pipeline_orchestrator", True),
                     ("execute_plan", True), ("validate_output", True)]
