"""Tools: JSON answers, one-line ERROR answers, every call in the trace."""

from __future__ import annotations

import json

import pytest

from .fakes import FakeWorkbench


@pytest.fixture
def tools_and_trace(crewai_storage):
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    trace = ToolTrace()
    workbench = FakeWorkbench(compile_error="Parser Error:\n  syntax error at 'FORM'")
    return build_tools(workbench, trace), trace


def test_success_is_json_and_recorded(tools_and_trace):
    tools, trace = tools_and_trace
    answer = tools["inspect_dataset"].run(key="warehouse/airlines")
    assert json.loads(answer)["row_count"] == 16
    [record] = trace.records
    assert (record.tool, record.arguments, record.ok, record.error) == (
        "inspect_dataset",
        {"key": "warehouse/airlines"},
        True,
        None,
    )
    assert record.seconds >= 0 and record.result == answer[:200]


def test_error_is_one_line_for_the_agent_and_recorded(tools_and_trace):
    from crewai.tools.tool_failure import ToolFailure

    tools, trace = tools_and_trace
    answer = tools["compile_plan"].run()
    assert isinstance(answer, ToolFailure)
    assert answer.as_agent_message() == "ERROR: Parser Error: syntax error at 'FORM'"
    [record] = trace.records
    assert not record.ok and record.error == "Parser Error: syntax error at 'FORM'"


def test_unexpected_exception_is_an_error_answer_too(tools_and_trace):
    tools, trace = tools_and_trace
    tools["execute_plan"].workbench.execute_plan = lambda: {}["output_uri"]
    answer = tools["execute_plan"].run()
    assert answer.as_agent_message() == "ERROR: KeyError: 'output_uri'"
    assert trace.records[-1].error == "KeyError: 'output_uri'"


def test_inspect_offers_only_the_spec_sources(tools_and_trace):
    from crewai.utilities.agent_utils import convert_tools_to_openai_schema

    tools, _ = tools_and_trace
    schemas, _, _ = convert_tools_to_openai_schema(list(tools.values()))
    by_name = {schema["function"]["name"]: schema["function"] for schema in schemas}
    assert list(by_name) == ["inspect_dataset", "compile_plan", "execute_plan", "validate_output"]
    key = by_name["inspect_dataset"]["parameters"]["properties"]["key"]
    assert key["enum"] == ["lake/flights", "warehouse/airlines"]
    with pytest.raises(ValueError, match="arguments validation failed"):
        tools["inspect_dataset"].run(key="lake/secrets")
