"""What a crew run produces: the task outputs, the tool-call trace and the run result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskStatus = Literal["ok", "failed"]


class _TaskOutput(BaseModel):
    """Fields every task answer carries, so a failure answer parses into any task model."""

    model_config = ConfigDict(extra="ignore")

    status: TaskStatus = Field(description='"ok", or "failed" when a tool answered ERROR')
    error: str | None = Field(default=None, description="the ERROR line when status is failed")


class SourceSummary(BaseModel):
    key: str
    row_count: int
    columns: list[str]


class PlanOutput(_TaskOutput):
    """Answer of `plan_transformation`."""

    sources: list[SourceSummary] = Field(default_factory=list)
    sql: str = ""
    output_columns: list[str] = Field(default_factory=list)


class ExecutionOutput(_TaskOutput):
    """Answer of `execute_transformation`."""

    output_uri: str = ""
    record_count: int = 0
    engine_seconds: float = 0.0


class ValidationOutput(_TaskOutput):
    """Answer of `validate_output`; `valid` is the workbench's `ok`."""

    valid: bool = False
    problems: list[str] = Field(default_factory=list)


class ToolCallRecord(BaseModel):
    """One tool call as the crew made it."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    error: str | None = None
    seconds: float
    result: str = Field(description="the answer the agent saw, shortened")


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    successful_requests: int = 0


class CrewRunResult(BaseModel):
    """A successful crew run: every task answered ok and the output is valid."""

    status: Literal["succeeded"] = "succeeded"
    spec_name: str
    agent_id: str
    plan: PlanOutput
    execution: ExecutionOutput
    validation: ValidationOutput
    trace: list[ToolCallRecord]
    token_usage: TokenUsage
    crew_seconds: float


class CrewRunFailed(Exception):
    """A crew run that did not produce a valid output.

    `trace` shows how far it got; `token_usage` what the model calls made so far
    cost (zero when no model was called).
    """

    def __init__(
        self,
        message: str,
        *,
        trace: list[ToolCallRecord],
        token_usage: TokenUsage | None = None,
    ) -> None:
        super().__init__(message)
        self.trace = trace
        self.token_usage = token_usage or TokenUsage()
