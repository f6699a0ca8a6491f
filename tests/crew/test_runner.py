"""Whole crew runs with the deterministic planner: sequence, outputs, failures, no network."""

from __future__ import annotations

import pytest

from datacrew_resources.config.platform import LLMConfig
from datacrew_resources.crew import (
    CrewAIRunner,
    CrewRunFailed,
    CrewRunResult,
    ExecutionOutput,
    PlanOutput,
    ValidationOutput,
)

from .fakes import SPEC_SUMMARY, FakeWorkbench

EXPECTED_CALLS = [
    "inspect_dataset:lake/flights",
    "inspect_dataset:warehouse/airlines",
    "compile_plan",
    "execute_plan",
    "validate_output",
]


@pytest.fixture
def runner(tmp_path) -> CrewAIRunner:
    return CrewAIRunner(LLMConfig(), storage_dir=tmp_path / "crewai")


def _run(runner: CrewAIRunner, workbench: FakeWorkbench) -> CrewRunResult:
    return runner.run(workbench, spec_summary=SPEC_SUMMARY, agent_id="etl-architect-1")


def test_run_calls_the_tools_in_order_and_traces_them(runner):
    workbench = FakeWorkbench()
    result = _run(runner, workbench)
    assert workbench.calls == EXPECTED_CALLS
    traced = [
        f"{record.tool}:{record.arguments['key']}" if record.arguments else record.tool
        for record in result.trace
    ]
    assert traced == EXPECTED_CALLS
    assert all(record.ok and record.error is None for record in result.trace)


def test_run_outputs_parse_into_the_task_models(runner):
    result = _run(runner, FakeWorkbench())
    assert result.status == "succeeded" and result.agent_id == "etl-architect-1"
    assert isinstance(result.plan, PlanOutput)
    assert [source.key for source in result.plan.sources] == ["lake/flights", "warehouse/airlines"]
    assert result.plan.output_columns == ["carrier", "name", "flights", "avg_dep_delay"]
    assert isinstance(result.execution, ExecutionOutput)
    assert (result.execution.record_count, result.execution.engine_seconds) == (16, 0.042)
    assert isinstance(result.validation, ValidationOutput) and result.validation.valid
    assert result.token_usage.total_tokens == 0
    assert result.crew_seconds > 0
    assert CrewRunResult.model_validate_json(result.model_dump_json()) == result


def test_failing_tool_stops_the_crew_with_its_message(runner):
    workbench = FakeWorkbench(compile_error='Binder Error: Referenced column "dep_dalay" not found')
    with pytest.raises(CrewRunFailed) as failed:
        _run(runner, workbench)
    assert str(failed.value) == (
        "delays_by_carrier: plan_transformation failed: compile_plan failed: "
        'Binder Error: Referenced column "dep_dalay" not found'
    )
    assert "execute_plan" not in workbench.calls
    assert [record.tool for record in failed.value.trace][-1] == "compile_plan"
    assert failed.value.trace[-1].error.startswith("Binder Error")


def test_invalid_output_fails_the_run(runner):
    workbench = FakeWorkbench(problems=["flights: 2 values below min 0"])
    with pytest.raises(CrewRunFailed, match="does not match its target schema: flights: 2 values"):
        _run(runner, workbench)
    assert workbench.calls == EXPECTED_CALLS


def test_iteration_limit_fails_the_run_instead_of_a_partial_plan(tmp_path):
    runner = CrewAIRunner(LLMConfig(max_iterations=2), storage_dir=tmp_path)
    workbench = FakeWorkbench()
    with pytest.raises(CrewRunFailed) as failed:
        _run(runner, workbench)
    assert str(failed.value) == (
        "delays_by_carrier: crew run failed: plan_transformation did not finish within "
        "2 model calls (llm.max_iterations=2)"
    )
    assert workbench.calls == EXPECTED_CALLS[:2]
    assert [record.tool for record in failed.value.trace] == ["inspect_dataset"] * 2


def test_intent_only_spec_without_an_llm_fails_before_any_crew_work(runner):
    summary = {**SPEC_SUMMARY, "rules": [], "intent": "flights and mean delay per airline"}
    workbench = FakeWorkbench()
    with pytest.raises(CrewRunFailed) as failed:
        runner.run(workbench, spec_summary=summary, agent_id="etl-architect-1")
    assert str(failed.value) == (
        "delays_by_carrier: intent-only spec needs an LLM (set llm.model or DATACREW_LLM)"
    )
    assert workbench.calls == [] and failed.value.trace == []


def test_crew_exception_keeps_its_cause(runner, monkeypatch):
    from datacrew_resources.crew.planner_llm import PlannerLLM

    def unreachable(self, *args, **kwargs):
        raise ConnectionError("model endpoint unreachable\n(after 3 attempts)")

    monkeypatch.setattr(PlannerLLM, "call", unreachable)
    with pytest.raises(CrewRunFailed) as failed:
        _run(runner, FakeWorkbench())
    assert str(failed.value).startswith("delays_by_carrier: crew run failed: ")
    assert "\n" not in str(failed.value)
    assert isinstance(failed.value.__cause__, Exception)
    assert failed.value.trace == []


def test_run_makes_no_network_connection(runner, network_attempts):
    result = _run(runner, FakeWorkbench())
    assert result.validation.valid
    assert network_attempts == []


def test_run_writes_crewai_state_in_the_storage_dir(runner, tmp_path):
    _run(runner, FakeWorkbench())
    written = {path.name for path in (tmp_path / "crewai").iterdir()}
    assert {"latest_kickoff_task_outputs.db", ".crewai_user.json"} <= written

