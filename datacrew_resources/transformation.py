"""Carry out one transformation spec: sources from the catalog, the crew over the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


from .catalog.models import ColumnInfo
from .config import ConfigError, Home
from .config.spec import find_spec
from .context import ToolExecutionContext, governed_engine
from .crew import CrewRunner, CrewRunResult
from .delegation.service import Delegation, crew_origin, delegated_agent
from .engine.lineage import ColumnDep, traced_lineage
from .partitions import partition_file, scoped_spec
from .workbench import EngineWorkbench

PREVIEW_ROWS = 10


@dataclass
class TransformationOutcome:
    """What one crew run produced, for the materialization's metadata."""

    output_uri: str
    quarantine: dict[str, Any] | None
    record_count: int
    columns: list[ColumnInfo]
    sql: str
    agent_id: str
    crew_seconds: float
    tool_seconds: float
    engine_seconds: float
    tool_calls: list[dict[str, Any]]
    token_usage: dict[str, int]
    crew_result: dict[str, Any]
    preview_rows: list[list[Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    column_lineage: dict[str, list[ColumnDep]] | None = None


def run_transformation(
    home: Home,
    name: str,
    runner: CrewRunner,
    *,
    partition_key: str | None = None,
    window: tuple[datetime, datetime] | None = None,
    run_id: str = "local",
    request_id: str | None = None,
    reporter: Callable[[str, str | None, float | None], dict[str, Any]] | None = None,
) -> TransformationOutcome:
    """Plan, execute and validate one spec (or one partition of it) through the crew.

    With `request_id` (a delegated run) the crew works as the request's target agent.
    `reporter` answers the crew's data_pipeline_orchestrator tool (see EngineWorkbench).
    Raises CrewRunFailed when the crew does not produce a valid output.
    """
    config = home.load_config()
    specs = home.load_specs(config)
    loaded = find_spec(specs, name)
    agent_id = loaded.spec.agent
    if request_id is not None:
        agent_id = delegated_agent(home, config, specs, request_id, loaded.spec.key_string, run_id)
    # The engine places unpartitioned outputs by their format; a Dagster partition is one file.
    spec, output = loaded.spec, None
    if partition_key is not None:
        spec, output = scoped_spec(spec, partition_key, window), partition_file(home, spec, partition_key)
    spec_file = str(loaded.path.relative_to(home.root)) if loaded.path.is_relative_to(home.root) else str(loaded.path)
    engine, context = governed_engine(
        home, config, specs, loaded, agent_id=agent_id, file=spec_file, run_id=run_id,
        task_id=spec.key_string + (f"[{partition_key}]" if partition_key else ""),
    )
    # One sandbox for every engine step of the run; the runner interrupts it at the time limit.
    with engine.session(spec, output) as session:
        # The crew's request_delegation queues a request as this run's agent, for the gate to judge.
        workbench = EngineWorkbench(
            engine, spec, output_path=output, spec_file=spec_file,
            delegator=lambda **request: Delegation(home, config, specs).submit(
                requester=agent_id, origin_key=crew_origin(run_id), **request),
            session=session,
            reporter=reporter,
            catalog=home,
        )
        result = runner.run(workbench, spec_summary=spec.model_dump(mode="json"), agent_id=agent_id)
        # The plan reads only sources the engine holds, with the columns it compiled against.
        lineage = traced_lineage(workbench.plan, engine.sources) if workbench.plan else None
        return _outcome(workbench, result, context, lineage)


def _outcome(
    workbench: EngineWorkbench,
    result: CrewRunResult,
    context: ToolExecutionContext,
    lineage: dict[str, list[ColumnDep]] | None,
) -> TransformationOutcome:
    execution = workbench.execution
    if execution is None or workbench.plan is None:
        raise ConfigError("the crew finished without executing the plan", field="crew", value=workbench.spec_name)
    columns, rows = _preview(workbench)
    in_tools = sum(call.seconds for call in result.trace)
    return TransformationOutcome(
        output_uri=execution.output_uri,
        quarantine=execution.quarantine.to_dict() if execution.quarantine else None,
        record_count=execution.record_count,
        columns=columns,
        sql=workbench.plan.sql,
        agent_id=result.agent_id,
        # Crew overhead is the agent loop alone; engine time is the write itself;
        # the other tools (inspect, compile, validate) are reported apart.
        crew_seconds=max(result.crew_seconds - in_tools, 0.0),
        tool_seconds=max(in_tools - execution.seconds, 0.0),
        engine_seconds=execution.seconds,
        tool_calls=[call.model_dump() for call in result.trace],
        token_usage=result.token_usage.model_dump(),
        crew_result=result.model_dump(mode="json", exclude={"trace"}),
        preview_rows=rows,
        context=context.model_dump(mode="json"),
        column_lineage=lineage,
    )


def _preview(workbench: EngineWorkbench) -> tuple[list[ColumnInfo], list[list[Any]]]:
    """The written output's columns (nullability as declared) and first rows."""
    preview = workbench.preview(PREVIEW_ROWS)
    nullable = {c.name: c.nullable for c in workbench.spec.target_schema.columns}
    columns = [
        ColumnInfo(name=c["name"], type=c["type"], nullable=nullable.get(c["name"], True))
        for c in preview["columns"]
    ]
    return columns, preview["rows"]
