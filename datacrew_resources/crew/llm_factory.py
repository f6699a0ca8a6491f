"""The LLM a crew runs with: the offline planner, or any CrewAI provider model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from datacrew_resources.config.platform import LLMConfig

from .offline import prepare_crewai

if TYPE_CHECKING:
    from crewai.llms.base_llm import BaseLLM

MODEL_ENV = "DATACREW_LLM"
PLANNER_MODEL = "planner"
# Why the planner cannot carry out a spec without rules.
NEEDS_LLM = "intent-only spec needs an LLM (set llm.model or DATACREW_LLM)"


def effective_model(llm_config: LLMConfig) -> str:
    """The configured model, unless `DATACREW_LLM` overrides it for this process."""
    return os.environ.get(MODEL_ENV) or llm_config.model


def build_llm(llm_config: LLMConfig, *, storage_dir: Path | str) -> BaseLLM:
    """A new LLM instance for one agent; CrewAI keeps its state under `storage_dir`.

    One instance per agent, because CrewAI sums usage over its agents' LLMs and
    would count a shared instance once per agent.
    """
    prepare_crewai(storage_dir)
    model = effective_model(llm_config)
    if model == PLANNER_MODEL:
        from .planner_llm import PlannerLLM

        return PlannerLLM(model=PLANNER_MODEL)

    from crewai import LLM

    api_key = os.environ.get(llm_config.api_key_env) if llm_config.api_key_env else None
    return LLM(
        model=model,
        base_url=llm_config.base_url,
        api_key=api_key,
        temperature=llm_config.temperature,
        timeout=llm_config.timeout_seconds,
    )
