"""Carry out one transformation with a CrewAI crew over a `TransformationWorkbench`."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from datacrew_resources.config.errors import one_line
from datacrew_resources.config.platform import LLMConfig

from .inputs import task_inputs
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
    from crewai import Crew
    from crewai.tasks.task_output import TaskOutput

    from .tools import ToolTrace

CONFIG_DIR = Path(__file__).parent / "config"

# Task name -> (output model, tools its agent may use), in run order.
TASKS: dict[str, tuple[type[PlanOutput | ExecutionOutput | ValidationOutput], tuple[str, ...]]] = {
    "plan_transformation": (PlanOutput, ("inspect_dataset", "compile_plan")),
    "execute_transformation": (ExecutionOutput, ("execute_plan",)),
    "validate_output": (ValidationOutput, ("validate_output",)),
}


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
        prepare_crewai(self.storage_dir)
        from .tools import ToolTrace

        trace = ToolTrace()
        crew = self._build_crew(workbench, trace)
        started = time.perf_counter()
        try:
            output = crew.kickoff(inputs=task_inputs(workbench, spec_summary, agent_id))
        except Exception as e:
            raise CrewRunFailed(
                f"{workbench.spec_name}: crew run failed: {one_line(str(e)) or type(e).__name__}",
                trace=trace.records,
            ) from e
        crew_seconds = time.perf_counter() - started

        plan, execution, validation = [
            _answer(workbench.spec_name, name, model, task_output, trace)
            for (name, (model, _)), task_output in zip(
                TASKS.items(), output.tasks_output, strict=True
            )
        ]
        if not validation.valid:
            raise CrewRunFailed(
                f"{workbench.spec_name}: output does not match its target schema: "
                + "; ".join(validation.problems or ["no problem listed"]),
                trace=trace.records,
            )
        usage = crew.usage_metrics
        return CrewRunResult(
            spec_name=workbench.spec_name,
            agent_id=agent_id,
            plan=plan,
            execution=execution,
            validation=validation,
            trace=trace.records,
            token_usage=TokenUsage.model_validate(usage.model_dump() if usage else {}),
            crew_seconds=crew_seconds,
        )

    def _build_crew(self, workbench: TransformationWorkbench, trace: ToolTrace) -> Crew:
        from crewai import Agent, Crew, Process, Task
        from crewai.tasks.conditional_task import ConditionalTask

        from .llm_factory import build_llm
        from .tools import build_tools

        tools = build_tools(workbench, trace)
        agents: list[Agent] = []
        tasks: list[Task] = []
        for name, (model, tool_names) in TASKS.items():
            task_config = self.tasks_config[name]
            task_tools = [tools[tool_name] for tool_name in tool_names]
            agent = Agent(
                **self.agents_config[task_config["agent"]],
                llm=build_llm(self.llm_config, storage_dir=self.storage_dir),
                tools=task_tools,
                max_iter=self.llm_config.max_iterations,
                max_execution_time=math.ceil(self.llm_config.timeout_seconds),
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
        return Crew(
            agents=agents,
            tasks=tasks,
            process=Process.sequential,
            verbose=False,
            # Tool results must not be replayed from a cache: execute_plan writes data.
            cache=False,
            memory=False,
            tracing=False,
        )


def _answered_ok(previous: TaskOutput) -> bool:
    return getattr(previous.pydantic, "status", None) == "ok"


def _answer(
    spec_name: str,
    task_name: str,
    model: type[PlanOutput | ExecutionOutput | ValidationOutput],
    task_output: TaskOutput,
    trace: ToolTrace,
) -> Any:
    """The task's parsed answer; raise `CrewRunFailed` if it failed or did not parse."""
    answer = task_output.pydantic
    if not isinstance(answer, model):
        raise CrewRunFailed(
            f"{spec_name}: {task_name} gave no {model.__name__} answer: {task_output.raw[:200]!r}",
            trace=trace.records,
        )
    if answer.status != "ok":
        raise CrewRunFailed(
            f"{spec_name}: {task_name} failed: {one_line(str(answer.error))}", trace=trace.records
        )
    return answer


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open() as stream:
        return yaml.safe_load(stream)
