"""Carry out one transformation with a CrewAI crew over a `TransformationWorkbench`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from datacrew_resources.config.errors import one_line
from datacrew_resources.config.platform import LLMConfig

from .inputs import task_inputs
from .limits import LimitReached, RunLimits, run_bounded
from .llm_factory import NEEDS_LLM, PLANNER_MODEL, effective_model
from .models import (
    CrewRunFailed,
    CrewRunResult,
    ExecutionOutput,
    PlanOutput,
    TokenUsage,
    ValidationOutput,
)
from .offline import prepare_crewai
from .workbench import TransformationWorkbench

if TYPE_CHECKING:
    from crewai import Crew, CrewOutput
    from crewai.tasks.task_output import TaskOutput

    from .tools import ToolTrace

CONFIG_DIR = Path(__file__).parent / "config"

TaskModel = type[PlanOutput | ExecutionOutput | ValidationOutput]

# Task name -> (output model, tools its agent may use). A run has one plan task
# (rules compiled by the engine, or SQL the agent writes for an intent-only
# spec), then execute and validate. The quality validator may also ask a peer
# for work (request_delegation): the request is queued for the gate, not run.
# The pipeline orchestrator may read the platform's run records (data_pipeline_orchestrator).
# The planner may search the catalog (data_discovery) when the workbench has one.
TASKS: dict[str, tuple[TaskModel, tuple[str, ...]]] = {
    "plan_transformation": (PlanOutput, ("inspect_dataset", "compile_plan", "data_discovery")),
    "plan_sql_transformation": (PlanOutput, ("inspect_dataset", "propose_sql", "data_discovery")),
    "execute_transformation": (ExecutionOutput, ("execute_plan", "data_pipeline_orchestrator")),
    "validate_output": (ValidationOutput, ("validate_output", "request_delegation")),
}
RULES_SEQUENCE = ("plan_transformation", "execute_transformation", "validate_output")
SQL_SEQUENCE = ("plan_sql_transformation", "execute_transformation", "validate_output")


def intent_only(spec_summary: dict[str, Any]) -> bool:
    """A spec that states an intent and no rules: the agent writes its SQL."""
    return bool(str(spec_summary.get("intent") or "").strip()) and not spec_summary.get("rules")


def task_sequence(spec_summary: dict[str, Any]) -> tuple[str, ...]:
    return SQL_SEQUENCE if intent_only(spec_summary) else RULES_SEQUENCE


class CrewRunner(Protocol):
    """Carries out one transformation; the CrewAI crew is one implementation."""

    def run(
        self, workbench: TransformationWorkbench, *, spec_summary: dict[str, Any], agent_id: str
    ) -> CrewRunResult:
        """Plan, execute and validate; raise `CrewRunFailed` unless the output is valid."""
        ...


class CrewAIRunner:
    """A sequential CrewAI crew: plan (ETL architect), execute (orchestrator), validate.

    `storage_dir` receives everything CrewAI writes at run time. `import crewai`
    happens on the first `run`, not when this class is built.
    """

    def __init__(
        self, llm_config: LLMConfig, *, storage_dir: Path | str, config_dir: Path = CONFIG_DIR
    ) -> None:
        self.llm_config = llm_config
        self.storage_dir = Path(storage_dir)
        self.agents_config = _read_yaml(config_dir / "agents.yaml")
        self.tasks_config = _read_yaml(config_dir / "tasks.yaml")

    def run(
        self, workbench: TransformationWorkbench, *, spec_summary: dict[str, Any], agent_id: str
    ) -> CrewRunResult:
        sequence = task_sequence(spec_summary)
        if sequence is SQL_SEQUENCE and effective_model(self.llm_config) == PLANNER_MODEL:
            raise CrewRunFailed(f"{workbench.spec_name}: {NEEDS_LLM}", trace=[])
        prepare_crewai(self.storage_dir)
        from .tools import ToolTrace

        trace = ToolTrace()
        limits = RunLimits(
            max_model_calls=self.llm_config.max_iterations,
            timeout_seconds=self.llm_config.timeout_seconds,
        )
        # At the time limit a tool still running (a write) is interrupted, not waited for,
        # when the workbench can interrupt its engine (EngineWorkbench.interrupt).
        interrupt = getattr(workbench, "interrupt", None)
        if callable(interrupt):
            limits.on_stop(interrupt)
        crew, task_of_agent = self._build_crew(workbench, trace, limits, sequence)
        inputs = task_inputs(workbench, spec_summary, agent_id)
        started = time.perf_counter()
        try:
            output = run_bounded(lambda: _kickoff(crew, inputs, limits, task_of_agent), limits)
        except Exception as e:
            # A reached limit explains the failure better than what CrewAI raised with it.
            reason = limits.reason or one_line(str(e)) or type(e).__name__
            raise CrewRunFailed(
                f"{workbench.spec_name}: crew run failed: {reason}",
                trace=trace.records,
                token_usage=_usage(crew),
            ) from e
        crew_seconds = time.perf_counter() - started

        plan, execution, validation = [
            _answer(workbench.spec_name, name, TASKS[name][0], task_output, trace, crew)
            for name, task_output in zip(sequence, output.tasks_output, strict=True)
        ]
        if not validation.valid:
            raise CrewRunFailed(
                f"{workbench.spec_name}: output does not match its target schema: "
                + "; ".join(validation.problems or ["no problem listed"]),
                trace=trace.records,
                token_usage=_usage(crew),
            )
        return CrewRunResult(
            spec_name=workbench.spec_name,
            agent_id=agent_id,
            plan=plan,
            execution=execution,
            validation=validation,
            trace=trace.records,
            token_usage=_usage(crew),
            crew_seconds=crew_seconds,
        )

    def _build_crew(
        self,
        workbench: TransformationWorkbench,
        trace: ToolTrace,
        limits: RunLimits,
        sequence: tuple[str, ...],
    ) -> tuple[Crew, dict[int, str]]:
        """The crew, and the task of each agent (by `id`), for counting model calls."""
        from crewai import Agent, Crew, Process, Task
        from crewai.tasks.conditional_task import ConditionalTask

        from .llm_factory import build_llm
        from .tools import build_tools

        tools = build_tools(workbench, trace, limits)
        agents: list[Agent] = []
        tasks: list[Task] = []
        task_of_agent: dict[int, str] = {}
        for name in sequence:
            model, tool_names = TASKS[name]
            task_config = self.tasks_config[name]
            # build_tools leaves out the optional tools over a workbench without their operation.
            task_tools = [tools[tool_name] for tool_name in tool_names if tool_name in tools]
            agent = Agent(
                **self.agents_config[task_config["agent"]],
                llm=build_llm(self.llm_config, storage_dir=self.storage_dir),
                tools=task_tools,
                # RunLimits ends a task at max_iterations model calls; CrewAI's own
                # bound (a forced answer, then a TaskOutput error) is one further.
                max_iter=self.llm_config.max_iterations + 1,
                # Not max_execution_time: CrewAI waits for the task to end before
                # raising it (see limits.py); run_bounded enforces the time limit.
                # A retry would re-run tools that write data (execute_plan).
                max_retry_limit=0,
                allow_delegation=False,
                cache=False,
                verbose=False,
            )
            task_arguments: dict[str, Any] = dict(
                name=name,
                description=task_config["description"],
                expected_output=task_config["expected_output"],
                agent=agent,
                tools=task_tools,
                output_pydantic=model,
            )
            # Each later task runs only if the one before it answered "ok".
            tasks.append(
                ConditionalTask(condition=_answered_ok, **task_arguments)
                if tasks
                else Task(**task_arguments)
            )
            agents.append(agent)
            task_of_agent[id(agent)] = name
        crew = Crew(
            agents=agents,
            tasks=tasks,
            process=Process.sequential,
            verbose=False,
            # Tool results must not be replayed from a cache: execute_plan writes data.
            cache=False,
            memory=False,
            tracing=False,
        )
        return crew, task_of_agent


def _kickoff(
    crew: Crew, inputs: dict[str, str], limits: RunLimits, task_of_agent: dict[int, str]
) -> CrewOutput:
    """`crew.kickoff` with every model call counted against `limits` first.

    The check is an execution-scoped CrewAI `pre_model_call` hook: it sees each
    call an agent makes, whatever the LLM class (the executor dispatches it for
    the planner as for a provider, and native providers for their direct calls,
    such as the output conversion). A hook aborts a call only by raising
    `HookAborted`; CrewAI passes that through without retrying.
    """
    from crewai.hooks.dispatch import HookAborted, InterceptionPoint, register_scoped, scoped_hooks

    def count_model_call(context: Any) -> None:
        agent = getattr(context, "agent", None)
        try:
            limits.before_model_call(task_of_agent.get(id(agent)) if agent is not None else None)
        except LimitReached as e:
            raise HookAborted(str(e), source="datacrew.RunLimits") from e

    with scoped_hooks():
        register_scoped(InterceptionPoint.PRE_MODEL_CALL, count_model_call)
        return crew.kickoff(inputs=inputs)


def _usage(crew: Crew) -> TokenUsage:
    """Tokens the crew's model calls reported so far (each agent has its own LLM)."""
    metrics = crew.calculate_usage_metrics()
    return TokenUsage.model_validate(metrics.model_dump() if metrics else {})


def _answered_ok(previous: TaskOutput) -> bool:
    return getattr(previous.pydantic, "status", None) == "ok"


def _answer(
    spec_name: str,
    task_name: str,
    model: TaskModel,
    task_output: TaskOutput,
    trace: ToolTrace,
    crew: Crew,
) -> Any:
    """The task's parsed answer; raise `CrewRunFailed` if it failed or did not parse."""
    answer = task_output.pydantic
    if not isinstance(answer, model):
        raise CrewRunFailed(
            f"{spec_name}: {task_name} gave no {model.__name__} answer: {task_output.raw[:200]!r}",
            trace=trace.records,
            token_usage=_usage(crew),
        )
    if answer.status != "ok":
        raise CrewRunFailed(
            f"{spec_name}: {task_name} failed: {one_line(str(answer.error))}",
            trace=trace.records,
            token_usage=_usage(crew),
        )
    return answer


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open() as stream:
        return yaml.safe_load(stream)
