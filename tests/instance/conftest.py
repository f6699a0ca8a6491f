"""Homes and PostgreSQL databases for the instance tests: each test gets its own, dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import yaml
from psycopg import sql

from datacrew_resources.config import Home


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """The URL of a fresh database (Dagster's storage wants one of its own), dropped afterwards
    even while a daemon's connections linger (FORCE)."""
    name = f"dc_instance_{uuid.uuid4().hex}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, query = postgres_server.partition("?")
    yield f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def set_section(home: Home, name: str, value: object) -> None:
    """Rewrite one top-level section of datacrew.yaml."""
    data = yaml.safe_load(home.config_path.read_text())
    data[name] = value
    home.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
