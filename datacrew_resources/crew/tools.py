"""CrewAI tools over a `TransformationWorkbench`, each call recorded in a shared trace.

Imports `crewai`: import it only after `prepare_crewai()` (the runner does).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from abc import abstractmethod
from typing import Any, Literal

from crewai.tools import BaseTool
from crewai.tools.tool_failure import ToolFailure
from pydantic import BaseModel, ConfigDict, Field, create_model

from datacrew_resources.config.errors import one_line

from .limits import LimitReached, RunLimits
from .models import ToolCallRecord
from .workbench import TransformationWorkbench

logger = logging.getLogger(__name__)

ERROR_PREFIX = "ERROR: "
RESULT_PREVIEW_CHARS = 200


class ToolTrace:
    """The calls of one crew run, in order; tools of every agent append to it."""

    def __init__(self) -> None:
        self._records: list[ToolCallRecord] = []
        self._lock = threading.Lock()

    def append(self, record: ToolCallRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[ToolCallRecord]:
        with self._lock:
            return list(self._records)


class NoArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkbenchTool(BaseTool):
    """Base: calls one workbench operation, answers JSON or `ERROR: ...`, records the call."""

    workbench: Any = Field(exclude=True)
    trace: ToolTrace = Field(exclude=True)
    limits: RunLimits | None = Field(default=None, exclude=True)
    args_schema: type[BaseModel] = NoArguments

    @abstractmethod
    def _operation(self, **arguments: Any) -> dict[str, Any]:
        """The workbench call this tool wraps."""

    def _run(self, **arguments: Any) -> str | ToolFailure:
        started = time.perf_counter()
        try:
            result = self._limited(arguments)
        except LimitReached as e:
            message = f"run stopped: {e}"
        except ValueError as e:
            message = one_line(str(e)) or "ValueError"
        except Exception as e:
            # Outside the workbench's error contract: keep the traceback in the log.
            logger.exception("tool %s raised", self.name)
            message = f"{type(e).__name__}: {one_line(str(e))}"
        else:
            answer = json.dumps(result, default=str)
            self._record(arguments, started, answer, error=None)
            return answer
        answer = ERROR_PREFIX + message
        self._record(arguments, started, answer, error=message)
        # A ToolFailure reaches the agent as its message and is also recorded by
        # CrewAI (TaskOutput.tool_failures, ToolFailureDetectedEvent).
        return ToolFailure(message=answer)

    def _limited(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The operation, unless the run's limits are reached (then `LimitReached`)."""
        if self.limits is None:
            return self._operation(**arguments)
        with self.limits.tool_call():
            return self._operation(**arguments)

    def _record(
        self, arguments: dict[str, Any], started: float, answer: str, *, error: str | None
    ) -> None:
        self.trace.append(
            ToolCallRecord(
                tool=self.name,
                arguments=arguments,
                ok=error is None,
                error=error,
                seconds=time.perf_counter() - started,
                result=answer[:RESULT_PREVIEW_CHARS],
            )
        )


class InspectDatasetTool(WorkbenchTool):
    name: str = "inspect_dataset"
    description: str = (
        "Describe one source dataset: columns with types, row count and a few sample rows. "
        "Answers JSON, or a line starting with ERROR:."
    )

    def _operation(self, key: str) -> dict[str, Any]:
        return self.workbench.inspect_dataset(key)


class CompilePlanTool(WorkbenchTool):
    name: str = "compile_plan"
    description: str = (
        "Compile the transformation's rules into one validated DuckDB SELECT. Takes no "
        'arguments. Answers JSON {"sql", "output_columns"}, or a line starting with ERROR:.'
    )

    def _operation(self) -> dict[str, Any]:
        return self.workbench.compile_plan()


class SqlArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(
        description=(
            "one DuckDB SELECT over the sources, each named by its quoted key, "
            'e.g. SELECT carrier, count(*) AS flights FROM "lake/flights" GROUP BY carrier'
        )
    )


class ProposeSqlTool(WorkbenchTool):
    name: str = "propose_sql"
    description: str = (
        "Validate and compile the SQL you wrote for this transformation. Only one SELECT "
        'over the sources, each referred to by its quoted key (FROM "source/dataset"), is '
        "accepted: no other statements, table functions or file paths. Answers JSON "
        '{"sql", "output_columns"} when accepted (the last accepted SQL is the plan that '
        "runs), or a line starting with ERROR: saying what to fix."
    )
    args_schema: type[BaseModel] = SqlArguments

    def _operation(self, sql: str) -> dict[str, Any]:
        return self.workbench.compile_sql(sql)


class ExecutePlanTool(WorkbenchTool):
    name: str = "execute_plan"
    description: str = (
        "Run the compiled plan in the sandboxed engine and write the output atomically. "
        'Takes no arguments; call it once. Answers JSON {"output_uri", "record_count", '
        '"engine_seconds"}, or a line starting with ERROR:.'
    )

    def _operation(self) -> dict[str, Any]:
        return self.workbench.execute_plan()


class ValidateOutputTool(WorkbenchTool):
    name: str = "validate_output"
    description: str = (
        "Check the written output against the target schema. Takes no arguments. "
        'Answers JSON {"ok", "problems"}, or a line starting with ERROR:.'
    )

    def _operation(self) -> dict[str, Any]:
        return self.workbench.validate_output()


class DelegationArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="id of the agent asked to do the work, from the roster")
    task_type: str = Field(
        description="a task type configured in datacrew.yaml task_types, e.g. data_validation"
    )
    priority: str = Field(
        default="medium", description="low, medium, high, critical or emergency"
    )
    # Free-form here, but CrewAI sends every tool schema as OpenAI "strict", which
    # turns this into an object with no properties: a provider that enforces strict
    # schemas can only send {} (a scripted or lenient endpoint sends what it likes).
    facts: dict[str, Any] = Field(
        default_factory=dict,
        description="what the delegation rules check, e.g. {\"data_quality_threshold\": 0.95}",
    )


class RequestDelegationTool(WorkbenchTool):
    name: str = "request_delegation"
    description: str = (
        "Ask another agent to take on a piece of work (peer collaboration), as the agent "
        "of this run. The request is only queued: the delegation gate judges it later "
        "against the delegation rules, and may launch it, ask for approval or deny it. "
        "Nothing runs now and this task's own work is unchanged. Answers JSON "
        '{"request_id", "state", "target", "task_type"}, or a line starting with ERROR: '
        "(an unknown agent or task type: nothing was queued)."
    )
    args_schema: type[BaseModel] = DelegationArguments

    def _operation(
        self,
        target: str,
        task_type: str,
        priority: str = "medium",
        facts: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.workbench.request_delegation(
            target=target, task_type=task_type, priority=priority, facts=facts or {}
        )


PIPELINE_ACTIONS = ("status", "monitor", "lineage", "optimize")


class PipelineArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal[PIPELINE_ACTIONS] = Field(
        description=(
            "status: last runs, latest materializations, checks and quality bands; "
            "monitor: runs, failure rate, durations, rows and SLA figures over a window; "
            "lineage: upstream/downstream assets and recorded column lineage of `key`; "
            "optimize: recommendations, each citing the figures it rests on"
        )
    )
    key: str | None = Field(
        default=None,
        description="asset key 'layer/name' or job name for status (all when empty); the asset key for lineage",
    )
    hours: float | None = Field(
        default=None, description="window in hours for monitor and optimize (default 24)"
    )


class DataPipelineOrchestrationTool(WorkbenchTool):
    """The tutorial's `data_pipeline_orchestrator`, answering from the Dagster instance's
    records (what `datacrew status` prints with --json), never from estimates."""

    name: str = "data_pipeline_orchestrator"
    description: str = (
        "Read the platform's pipeline records from Dagster: action status, monitor, lineage or "
        "optimize (see the arguments). Read-only: it starts nothing. Answers JSON, or a line "
        "starting with ERROR: (an unknown action, asset or job, or a bad window)."
    )
    args_schema: type[BaseModel] = PipelineArguments

    def _operation(
        self, action: str, key: str | None = None, hours: float | None = None
    ) -> dict[str, Any]:
        return self.workbench.pipeline_report(action=action, key=key, hours=hours)


class DiscoveryArguments(BaseModel):
    """The tutorial's `DataDiscoveryInput`; the defaults keep every dataset (see ranking.SearchFilters)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(description="keywords matched against dataset names, descriptions, columns and tags")
    max_results: int = Field(default=10, description="datasets to return, best first")
    source_types: list[str] = Field(
        default_factory=list,
        description="data_lake, data_warehouse, streaming, api_endpoints, file_systems; empty for all",
    )
    quality_threshold: float = Field(default=0.0, description="minimum catalog quality score, 0 to 1")
    data_domains: list[str] = Field(
        default_factory=list, description="owner teams without 'team:', e.g. flight-ops; empty for all"
    )
    freshness_requirement: str | None = Field(
        default=None, description="last_24_hours, last_7_days, last_30_days or any"
    )


class DataDiscoveryTool(WorkbenchTool):
    """The tutorial's `EnterpriseDataDiscoveryTool`, answering from the catalog discovery
    recorded (what `datacrew search --json` ranks), never by scanning a source."""

    name: str = "data_discovery"
    description: str = (
        "Search the platform's data catalog: datasets ranked for a query by quality, relevance, "
        "freshness and schema completeness, with their columns, row counts and domains. Read-only: "
        "it scans nothing. Answers JSON, or a line starting with ERROR: (a bad filter)."
    )
    args_schema: type[BaseModel] = DiscoveryArguments

    def _operation(self, query: str, **filters: Any) -> dict[str, Any]:
        return self.workbench.discover_datasets(query, **filters)


def _inspect_arguments(source_keys: list[str]) -> type[BaseModel]:
    """Arguments of inspect_dataset; the keys become an enum in the tool's JSON schema."""
    return create_model(
        "InspectDatasetArguments",
        __config__=ConfigDict(extra="forbid"),
        key=(
            Literal[tuple(source_keys)],
            Field(description="source asset key, 'source/dataset'"),
        ),
    )


def build_tools(
    workbench: TransformationWorkbench, trace: ToolTrace, limits: RunLimits | None = None
) -> dict[str, WorkbenchTool]:
    """The tools over `workbench`, by name, all appending to `trace`.

    With `limits`, a tool called after the run was stopped does nothing and
    answers `ERROR: run stopped: ...`. `request_delegation`,
    `data_pipeline_orchestrator` and `data_discovery` are built only over a workbench that
    has the operation (`request_delegation`, `pipeline_report`, `discover_datasets`); a
    stand-in may leave them out, and an `EngineWorkbench` has `discover_datasets` only
    when given a catalog.
    """
    common: dict[str, Any] = dict(workbench=workbench, trace=trace, limits=limits)
    tools: list[WorkbenchTool] = [
        InspectDatasetTool(
            **common, args_schema=_inspect_arguments(list(workbench.source_keys))
        ),
        CompilePlanTool(**common),
        ProposeSqlTool(**common),
        ExecutePlanTool(**common),
        ValidateOutputTool(**common),
    ]
    if callable(getattr(workbench, "request_delegation", None)):
        tools.append(RequestDelegationTool(**common))
    if callable(getattr(workbench, "pipeline_report", None)):
        tools.append(DataPipelineOrchestrationTool(**common))
    if callable(getattr(workbench, "discover_datasets", None)):
        tools.append(DataDiscoveryTool(**common))
    return {tool.name: tool for tool in tools}
