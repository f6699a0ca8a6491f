"""A scripted "model" for `ScriptedChatServer`: one list of turns per crew task.

The task a request belongs to is told by the tools it offers (the crew gives
each task its own tools); the turn within the task is the number of assistant
turns already in the conversation. A turn is a response (see `chat_server`) or a
callable that builds one from the request, to echo what a tool answered.
A request that offers no tools (CrewAI converting an answer, or forcing one) is
answered by the `untooled` turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from .chat_server import Turn, answer

Step = Turn | Callable[[dict[str, Any]], Turn]

TASK_BY_TOOL = {
    "compile_plan": "plan",
    "propose_sql": "plan",
    "execute_plan": "execute",
    "validate_output": "validate",
}


def task_of(request: dict[str, Any]) -> str | None:
    offered = [tool["function"]["name"] for tool in request.get("tools") or []]
    return next((TASK_BY_TOOL[name] for name in offered if name in TASK_BY_TOOL), None)


def turn_index(request: dict[str, Any]) -> int:
    return sum(1 for message in request.get("messages", []) if message.get("role") == "assistant")


def tool_results(request: dict[str, Any]) -> list[str]:
    """Contents of the request's tool messages, in order."""
    return [str(m.get("content") or "") for m in request.get("messages", []) if m.get("role") == "tool"]


def last_result(request: dict[str, Any]) -> dict[str, Any]:
    """The last tool answer of the conversation, parsed (it must be JSON)."""
    return json.loads(tool_results(request)[-1])


class ScriptedModel:
    """`ScriptedModel(plan=[...], execute=[...], validate=[...])` is a server's `respond`.

    A task whose script ran out repeats its last step, so "keeps calling tools"
    is a one-step script.
    """

    def __init__(
        self,
        *,
        plan: Sequence[Step] = (),
        execute: Sequence[Step] = (),
        validate: Sequence[Step] = (),
        untooled: Step | None = None,
    ) -> None:
        self.scripts = {"plan": list(plan), "execute": list(execute), "validate": list(validate)}
        self.untooled = untooled or answer('{"status": "failed", "error": "no tools offered"}')

    def __call__(self, request: dict[str, Any]) -> Turn:
        task = task_of(request)
        if task is None:
            step = self.untooled
        else:
            script = self.scripts[task]
            if not script:
                raise AssertionError(f"no script for the {task} task")
            step = script[min(turn_index(request), len(script) - 1)]
        return step(request) if callable(step) else step


# Final answers built from what the task's last tool said.


def plan_answer(request: dict[str, Any]) -> Turn:
    inspected = []
    for content in tool_results(request):
        data = json.loads(content) if content.startswith("{") else {}
        if "row_count" in data:
            columns = [c["name"] for c in data.get("columns", [])]
            inspected.append({"key": data["key"], "row_count": data["row_count"], "columns": columns})
    compiled = last_result(request)
    return answer(
        {
            "status": "ok",
            "sources": inspected,
            "sql": compiled["sql"],
            "output_columns": compiled["output_columns"],
            "error": None,
        }
    )


def execution_answer(request: dict[str, Any]) -> Turn:
    data = last_result(request)
    return answer({"status": "ok", **data, "error": None})


def validation_answer(request: dict[str, Any]) -> Turn:
    data = last_result(request)
    return answer(
        {"status": "ok", "valid": data["ok"], "problems": data["problems"], "error": None}
    )
