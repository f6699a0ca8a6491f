"""The crew that carries out a transformation: agents, tasks, tools and LLMs.

Importing this package does not import `crewai` (about 5 s): the runner and the
LLM factory import it on first use.
"""

from .llm_factory import build_llm
from .models import (
    CrewRunFailed,
    CrewRunResult,
    ExecutionOutput,
    PlanOutput,
    SourceSummary,
    TokenUsage,
    ToolCallRecord,
    ValidationOutput,
)
from .runner import CrewAIRunner, CrewRunner
from .workbench import TransformationWorkbench

__all__ = [
    "CrewAIRunner",
    "CrewRunFailed",
    "CrewRunResult",
    "CrewRunner",
    "ExecutionOutput",
    "PlanOutput",
    "SourceSummary",
    "TokenUsage",
    "ToolCallRecord",
    "TransformationWorkbench",
    "ValidationOutput",
    "build_llm",
]
