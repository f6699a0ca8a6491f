"""Polling a condition while a daemon the test started runs, failing with its log."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
DEADLINE_SECONDS = 300  # a hang guard for the poll loop, not a speed target


def wait_for(condition: Callable[[], T], what: str, daemon: subprocess.Popen, log: Path, *,
             interval: float = 1.0) -> T:
    """`condition()`'s first truthy result; fails with the log's tail if the daemon exits or time runs out."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if daemon.poll() is not None:
            pytest.fail(f"dagster-daemon exited ({daemon.returncode}) waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
