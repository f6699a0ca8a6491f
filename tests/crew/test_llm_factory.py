"""build_llm: the planner by default, a CrewAI provider model by configuration."""

from __future__ import annotations

import os

from datacrew_resources.config.platform import LLMConfig
from datacrew_resources.crew.llm_factory import build_llm
from datacrew_resources.crew.offline import STORAGE_ENV


def test_planner_by_default(tmp_path):
    llm = build_llm(LLMConfig(), storage_dir=tmp_path / "crewai")
    from datacrew_resources.crew.planner_llm import PlannerLLM

    assert isinstance(llm, PlannerLLM)


def test_applies_the_offline_settings_before_crewai(tmp_path):
    build_llm(LLMConfig(), storage_dir=tmp_path / "crewai")
    assert os.environ[STORAGE_ENV] == str((tmp_path / "crewai").resolve())
    assert os.environ["CREWAI_TRACING_ENABLED"] == "false"
    assert (tmp_path / "crewai" / ".crewai_user.json").exists()


def test_provider_model_with_base_url_and_key_makes_no_connection(
    monkeypatch, network_attempts, crewai_storage
):
    from crewai.llms.base_llm import BaseLLM

    from datacrew_resources.crew.planner_llm import PlannerLLM

    monkeypatch.setenv("TEST_LLM_KEY", "sk-test")
    config = LLMConfig(
        model="openai/gpt-4o-mini",
        base_url="http://127.0.0.1:8011/v1",
        api_key_env="TEST_LLM_KEY",
        temperature=0.2,
    )
    llm = build_llm(config, storage_dir=crewai_storage)
    assert isinstance(llm, BaseLLM) and not isinstance(llm, PlannerLLM)
    assert (llm.model, llm.base_url, llm.api_key, llm.temperature) == (
        "gpt-4o-mini",
        "http://127.0.0.1:8011/v1",
        "sk-test",
        0.2,
    )
    assert llm.supports_function_calling()
    assert network_attempts == []


def test_unset_key_variable_gives_no_key(monkeypatch, tmp_path):
    monkeypatch.delenv("TEST_LLM_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = LLMConfig(model="openai/gpt-4o-mini", api_key_env="TEST_LLM_KEY")
    llm = build_llm(config, storage_dir=tmp_path)
    assert llm.api_key in (None, "")


def test_datacrew_llm_overrides_the_model_when_called(monkeypatch, crewai_storage):
    from datacrew_resources.crew.planner_llm import PlannerLLM

    monkeypatch.setenv("DATACREW_LLM", "planner")
    llm = build_llm(LLMConfig(model="openai/gpt-4o-mini"), storage_dir=crewai_storage)
    assert isinstance(llm, PlannerLLM)
    monkeypatch.setenv("DATACREW_LLM", "openai/gpt-4o-mini")
    assert not isinstance(build_llm(LLMConfig(), storage_dir=crewai_storage), PlannerLLM)
