"""Fixtures of the alert tests: a webhook receiver on loopback and an empty home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datacrew_resources.config import Home

from . import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")
