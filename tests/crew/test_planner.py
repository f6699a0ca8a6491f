"""PlannerLLM on its own: next tool call from the conversation, then the answer."""

from __future__ import annotations

import json

import pytest

from .fakes import FakeWorkbench


@pytest.fixture
def planner_and_schemas(crewai_storage):
    from crewai.utilities.agent_utils import convert_tools_to_openai_schema

    from datacrew_resources.crew.planner_llm import PlannerLLM
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    tools = build_tools(FakeWorkbench(), ToolTrace())
    schemas, _, _ = convert_tools_to_openai_schema(list(tools.values()))
    by_name = {schema["function"]["name"]: schema for schema in schemas}
    return PlannerLLM(model="planner"), by_name


def _answer_with(conversation: list[dict], call: dict, content: str) -> None:
    """Append a call and its result as CrewAI 1.15's native tool loop does."""
    conversation.append({"role": "assistant", "content": None, "tool_calls": [call]})
    conversation.append(
        {
            "role": "tool",
            "tool_call_id": call["id"],
            "name": call["function"]["name"],
            "content": content,
        }
    )


def test_plan_task_inspects_each_source_then_compiles(planner_and_schemas):
    planner, schemas = planner_and_schemas
    tools = [schemas["inspect_dataset"], schemas["compile_plan"]]
    conversation = [
        {"role": "system", "content": "You are ETL Architect"},
        {"role": "user", "content": "Plan"},
    ]
    workbench = FakeWorkbench()
    made = []
    while isinstance(response := planner.call(conversation, tools=tools), list):
        [call] = response
        assert call["type"] == "function" and call["id"]
        name, arguments = call["function"]["name"], json.loads(call["function"]["arguments"])
        made.append((name, arguments))
        _answer_with(conversation, call, json.dumps(getattr(workbench, name)(**arguments)))
    assert made == [
        ("inspect_dataset", {"key": "lake/flights"}),
        ("inspect_dataset", {"key": "warehouse/airlines"}),
        ("compile_plan", {}),
    ]
    answer = json.loads(response)
    assert answer["status"] == "ok"
    assert answer["sources"][1] == {
        "key": "warehouse/airlines",
        "row_count": 16,
        "columns": ["carrier", "name"],
    }
    assert answer["sql"].startswith("SELECT")


def test_an_error_answer_stops_with_a_failure(planner_and_schemas):
    planner, schemas = planner_and_schemas
    conversation = [{"role": "user", "content": "Execute"}]
    [call] = planner.call(conversation, tools=[schemas["execute_plan"]])
    _answer_with(conversation, call, "ERROR: disk full")
    answer = planner.call(conversation, tools=[schemas["execute_plan"]])
    assert json.loads(answer) == {"status": "failed", "error": "execute_plan failed: disk full"}


def test_is_deterministic_and_counts_no_tokens(planner_and_schemas):
    planner, schemas = planner_and_schemas
    conversation = [{"role": "user", "content": "Validate"}]
    first = planner.call(conversation, tools=[schemas["validate_output"]])
    assert first == planner.call(conversation, tools=[schemas["validate_output"]])
    assert planner.supports_function_calling()
    assert planner.get_token_usage_summary().total_tokens == 0


def test_forced_answer_before_the_last_tool_is_a_failure(planner_and_schemas):
    planner, _ = planner_and_schemas
    answer = json.loads(planner.call("Give your final answer now."))
    assert answer["status"] == "failed"


def test_iteration_limit_mid_task_is_a_failure_not_a_partial_plan(planner_and_schemas):
    planner, schemas = planner_and_schemas
    conversation = [{"role": "user", "content": "Plan"}]
    [call] = planner.call(conversation, tools=[schemas["inspect_dataset"], schemas["compile_plan"]])
    _answer_with(conversation, call, json.dumps({"row_count": 1, "columns": []}))
    # CrewAI's forced final answer: the same conversation, no tools offered.
    answer = json.loads(planner.call(conversation))
    assert answer["status"] == "failed"
    assert "last call: inspect_dataset" in answer["error"]



def test_offered_propose_sql_alone_it_says_an_llm_is_needed(crewai_storage):
    from crewai.utilities.agent_utils import convert_tools_to_openai_schema

    from datacrew_resources.crew.planner_llm import PlannerLLM
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    tools = build_tools(FakeWorkbench(), ToolTrace())
    schemas, _, _ = convert_tools_to_openai_schema([tools["inspect_dataset"], tools["propose_sql"]])
    answer = PlannerLLM(model="planner").call([{"role": "user", "content": "Plan"}], tools=schemas)
    assert json.loads(answer) == {
        "status": "failed",
        "error": "intent-only spec needs an LLM (set llm.model or DATACREW_LLM)",
    }
