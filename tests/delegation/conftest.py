"""Both control-database backends for the store and audit tests: a SQLite file under tmp_path,
and a PostgreSQL schema of its own per test (dropped afterwards) on the server named by
DATACREW_TEST_POSTGRES_URL, by default trust auth at 127.0.0.1:5432/test as postgres or root.

Nothing here skips: without a server the PostgreSQL tests fail, so CI cannot pass without them.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from datacrew_resources.config.errors import first_line
from datacrew_resources.delegation.backend import redact

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


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's control database lives: a SQLite path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "state" / "control.sqlite"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def raw(location: Path | str) -> Iterator[Any]:
    """An autocommit connection to the test's database that bypasses the store, as any client could."""
    if isinstance(location, Path):
        location.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(location, isolation_level=None)
    else:
        con = psycopg.connect(location, autocommit=True)
    yield con
    con.close()
