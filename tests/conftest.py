"""Suite-wide setup: no telemetry, no network, nothing written outside tmp dirs."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator

import pytest

from datacrew_resources.environment import quiet_environment

# Before any test imports crewai: it writes ~/.config/crewai and
# ~/.local/share/crewai at import time, so give the suite a home of its own.
os.environ["HOME"] = tempfile.mkdtemp(prefix="datacrew-tests-home-")
atexit.register(shutil.rmtree, os.environ["HOME"], ignore_errors=True)
# Hypothesis keeps its example database in the working directory unless told otherwise.
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = os.path.join(os.environ["HOME"], ".hypothesis")
quiet_environment()


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Close the network: every connection or name lookup raises and is recorded."""
    attempts: list[str] = []

    def refuse(what: str):
        def refused(*args: object, **kwargs: object) -> None:
            attempts.append(f"{what}{args!r}")
            raise OSError(f"network closed in tests ({what})")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    yield attempts
