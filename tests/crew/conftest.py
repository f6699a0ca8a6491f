"""Crew tests: CrewAI prepared on request, its settings undone after each test; no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datacrew_resources.crew.llm_factory import MODEL_ENV
from datacrew_resources.crew.offline import STORAGE_ENV, prepare_crewai
from datacrew_resources.environment import QUIET_ENV


@pytest.fixture(autouse=True)
def _crewai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the runner and the LLM factory set are undone after each test."""
    for name in [*QUIET_ENV, STORAGE_ENV, MODEL_ENV]:
        # setenv first so monkeypatch records the original, even "unset".
        original = os.environ.get(name)
        monkeypatch.setenv(name, original or "")
        if original is None:
            monkeypatch.delenv(name)
    monkeypatch.delenv(MODEL_ENV, raising=False)


@pytest.fixture
def crewai_storage(tmp_path: Path) -> Path:
    """Offline settings applied with state under tmp_path: use before importing crewai."""
    return prepare_crewai(tmp_path / "crewai")
