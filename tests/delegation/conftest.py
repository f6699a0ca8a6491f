"""Both control-database backends for the store and audit tests: a SQLite file under tmp_path,
and a PostgreSQL schema of its own per test (`postgres_url`, from the suite's conftest)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

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
