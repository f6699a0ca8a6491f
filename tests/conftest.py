"""Suite-wide setup: no telemetry, no network, nothing written outside tmp dirs."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from datacrew_resources.config.errors import first_line
from datacrew_resources.delegation.backend import redact
from datacrew_resources.config import Home
from datacrew_resources.demo import build_demo_sources
from datacrew_resources.demo_home import install_templates
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


# PostgreSQL for the control-plane tests: the server named by DATACREW_TEST_POSTGRES_URL,
# by default trust auth at 127.0.0.1:5432/test as postgres or root. Nothing skips: without
# a server those tests fail, so CI cannot pass without them.
POSTGRES_ENV = "DATACREW_TEST_POSTGRES_URL"
_DEFAULT_SERVERS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The first server URL that answers; the session fails (never skips) when none does."""
    candidates = [os.environ[POSTGRES_ENV]] if os.environ.get(POSTGRES_ENV) else _DEFAULT_SERVERS
    problems = []
    for url in candidates:
        try:
            with psycopg.connect(url, connect_timeout=5) as con:
                con.execute("SELECT 1")
            return url
        except psycopg.OperationalError as e:
            problems.append(f"{redact(url)}: {first_line(e)}")
    pytest.fail(f"PostgreSQL unreachable (set {POSTGRES_ENV}): " + "; ".join(problems))


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, so tests running at once never meet."""
    schema = f"dc_{uuid.uuid4().hex}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))




@pytest.fixture(scope="session")
def demo_sources(tmp_path_factory) -> Path:
    """The demo's source files, built once per session and linked into homes (read-only to tests)."""
    root = tmp_path_factory.mktemp("demo-sources")
    build_demo_sources(root)
    return root / "sources"


@pytest.fixture
def demo_home(tmp_path, demo_sources, monkeypatch) -> Home:
    """The demo's datacrew.yaml and specs under tmp_path, not yet discovered, with its own DAGSTER_HOME."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = Home(tmp_path)
    install_templates(home)
    (tmp_path / "sources").symlink_to(demo_sources, target_is_directory=True)
    return home


@pytest.fixture
def s3(monkeypatch) -> Iterator:
    """moto's S3 API on a free loopback port (`tests/s3_server.py`), imported only by the tests using it."""
    from .s3_server import serve_s3

    yield from serve_s3(monkeypatch)
