"""`PlannerLLM`: a deterministic, offline stand-in for a language model.

It drives the crew's tools in the order the task implies and answers with the
task's JSON, so crews run in tests and demos without a model. It reads the
conversation CrewAI keeps, in CrewAI 1.15's native function-calling format:
its tool calls come back as an assistant message with `tool_calls`, and each
result as a `{"role": "tool", "tool_call_id", "name", "content"}` message
(`crewai.agents.agent_executor.AgentExecutor.execute_native_tool`).

Imports `crewai`: import it only after `prepare_crewai()` (the LLM factory does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from crewai.llms.base_llm import BaseLLM

from .llm_factory import NEEDS_LLM
from .tools import ERROR_PREFIX

# The tools a task may offer, in the order the planner calls them.
TOOL_ORDER = ("inspect_dataset", "compile_plan", "execute_plan", "validate_output")

# No real window: large enough that CrewAI never summarizes the conversation
# or moves a tool result to a file, both of which would need a real model.
CONTEXT_WINDOW = 10_000_000


@dataclass(frozen=True)
class ToolResult:
    """A tool call of the conversation with the answer CrewAI fed back."""

    name: str
    arguments: dict[str, Any]
    content: str

    @property
    def error(self) -> str | None:
        """The answer when it is not a JSON object (an ERROR line, a CrewAI error)."""
        try:
            parsed = json.loads(self.content)
        except ValueError:
            return self.content
        return None if isinstance(parsed, dict) else self.content

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.content)


class PlannerLLM(BaseLLM):
    """Calls each offered tool once (inspect_dataset once per source), then answers.

    It writes no SQL: offered `propose_sql` without `compile_plan` (an intent-only
    spec), it answers with a failure naming what is needed instead.

    Token usage stays zero: it is not a language model and reads no tokens.
    """

    llm_type: str = "planner"

    def call(
        self,
        messages: str | list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> str | list[dict[str, Any]]:
        """The next tool call as an OpenAI-style list, or the final answer as JSON text."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        offered = {tool["function"]["name"] for tool in tools or []}
        if "propose_sql" in offered and "compile_plan" not in offered:
            return failure(NEEDS_LLM)
        results = tool_results(messages)
        for result in results:
            if result.error is not None:
                return failure(f"{result.name} failed: {result.error.removeprefix(ERROR_PREFIX)}")
        next_call = next_tool_call(tools or [], results)
        if next_call is not None:
            return [next_call]
        return final_answer(results)

    def supports_function_calling(self) -> bool:
        return True

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return CONTEXT_WINDOW

    def get_input_tokens_count(
        self, messages: Any, tools: Any = None, response_model: Any = None
    ) -> int:
        """Zero: nothing is tokenized (and no 'approximate count' warning per call)."""
        return 0


def tool_results(conversation: list[dict[str, Any]]) -> list[ToolResult]:
    """The tool calls made so far and their answers, in order."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    results: list[ToolResult] = []
    for message in conversation:
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                function = call["function"]
                arguments = function.get("arguments") or {}
                if isinstance(arguments, str):
                    arguments = json.loads(arguments or "{}")
                calls[call["id"]] = (function["name"], arguments)
        elif message.get("role") == "tool":
            name, arguments = calls.get(
                message.get("tool_call_id", ""), (message.get("name", ""), {})
            )
            results.append(ToolResult(name, arguments, str(message.get("content") or "")))
    return results


def next_tool_call(tools: list[dict[str, Any]], results: list[ToolResult]) -> dict[str, Any] | None:
    """The first call in TOOL_ORDER the offered tools allow and the conversation lacks."""
    offered = {tool["function"]["name"]: tool["function"] for tool in tools}
    done = {(result.name, json.dumps(result.arguments, sort_keys=True)) for result in results}
    for name in TOOL_ORDER:
        if name not in offered:
            continue
        for arguments in _argument_sets(offered[name]):
            if (name, json.dumps(arguments, sort_keys=True)) not in done:
                return {
                    "id": f"call_{len(results) + 1}_{name}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
    return None


def _argument_sets(function: dict[str, Any]) -> list[dict[str, Any]]:
    """One call per value of an enum argument (inspect_dataset's keys), else one call.

    A one-value `Literal` comes out of pydantic as `const`, not a one-item `enum`.
    """
    properties = (function.get("parameters") or {}).get("properties") or {}
    for argument, schema in properties.items():
        if "enum" in schema:
            return [{argument: value} for value in schema["enum"]]
        if "const" in schema:
            return [{argument: schema["const"]}]
    return [{}]


def final_answer(results: list[ToolResult]) -> str:
    """The task's JSON answer, shaped by the tool that ends the task."""
    last = results[-1] if results else None
    if last is None or last.name not in _ANSWERS:
        # Reached only when CrewAI forces an answer (iteration limit) mid-task.
        return failure(
            "stopped before the task's last tool ran"
            + (f" (last call: {last.name})" if last else " (no tool was called)")
        )
    return json.dumps({"status": "ok", **_ANSWERS[last.name](results)})


def _plan_answer(results: list[ToolResult]) -> dict[str, Any]:
    sources = [
        {
            "key": result.arguments.get("key", ""),
            "row_count": result.data.get("row_count", 0),
            "columns": [_column_name(column) for column in result.data.get("columns", [])],
        }
        for result in results
        if result.name == "inspect_dataset"
    ]
    return {"sources": sources, **results[-1].data}


def _execution_answer(results: list[ToolResult]) -> dict[str, Any]:
    return results[-1].data


def _validation_answer(results: list[ToolResult]) -> dict[str, Any]:
    data = results[-1].data
    return {"valid": bool(data.get("ok")), "problems": data.get("problems", [])}


_ANSWERS = {
    "compile_plan": _plan_answer,
    "execute_plan": _execution_answer,
    "validate_output": _validation_answer,
}


def _column_name(column: Any) -> str:
    return str(column["name"]) if isinstance(column, dict) else str(column)


def failure(error: str) -> str:
    """The answer that stops the crew: it parses into every task's output model."""
    return json.dumps({"status": "failed", "error": error})
