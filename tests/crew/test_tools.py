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
    assert list(by_name) == [
        "inspect_dataset",
        "compile_plan",
        "propose_sql",
        "execute_plan",
        "validate_output",
    ]
    key = by_name["inspect_dataset"]["parameters"]["properties"]["key"]
    assert key["enum"] == ["lake/flights", "warehouse/airlines"]
    with pytest.raises(ValueError, match="arguments validation failed"):
        tools["inspect_dataset"].run(key="lake/secrets")


def test_propose_sql_answers_the_guard_reason_for_bad_sql(tools_and_trace):
    tools, trace = tools_and_trace
    answer = tools["propose_sql"].run(sql="SELECT * FROM read_csv('/etc/passwd')")
    assert answer.as_agent_message() == (
        "ERROR: sql: \"SELECT * FROM read_csv('/etc/passwd')\": table function read_csv is not allowed"
    )
    good = 'SELECT carrier, count(*) AS flights FROM "lake/flights" GROUP BY carrier'
    assert json.loads(tools["propose_sql"].run(sql=good))["output_columns"] == ["carrier", "flights"]
    assert [(r.tool, r.ok, r.arguments) for r in trace.records][1] == ("propose_sql", True, {"sql": good})
    assert tools["propose_sql"].workbench.accepted_sql == good


def test_propose_sql_takes_exactly_one_sql_argument(tools_and_trace):
    from crewai.utilities.agent_utils import convert_tools_to_openai_schema

    tools, _ = tools_and_trace
    [schema], _, _ = convert_tools_to_openai_schema([tools["propose_sql"]])
    parameters = schema["function"]["parameters"]
    assert list(parameters["properties"]) == ["sql"] and parameters["required"] == ["sql"]


def test_tools_do_nothing_once_the_run_is_stopped(crewai_storage):
    from datacrew_resources.crew.limits import RunLimits
    from datacrew_resources.crew.tools import ToolTrace, build_tools

    limits = RunLimits(max_model_calls=5, timeout_seconds=60)
    workbench = FakeWorkbench()
    trace = ToolTrace()
    tools = build_tools(workbench, trace, limits)
    limits.stop("time limit of 60s exceeded (llm.timeout_seconds)")
    answer = tools["execute_plan"].run()
    assert answer.as_agent_message() == (
        "ERROR: run stopped: time limit of 60s exceeded (llm.timeout_seconds)"
    )
    assert workbench.calls == [] and not trace.records[-1].ok
