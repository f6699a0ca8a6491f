"""Choosing the backend from a location, and what only PostgreSQL needs: parameter translation,
the audit trigger function, schema creation racing across connections."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.delegation.audit import APPEND_ONLY, AuditLog
from datacrew_resources.delegation.backend import PostgresBackend, SqliteBackend, open_backend, transaction
from datacrew_resources.delegation.store import PENDING, RequestStore


def test_paths_open_sqlite_and_postgres_urls_open_postgres(tmp_path: Path) -> None:
    assert isinstance(open_backend(tmp_path / "c.sqlite"), SqliteBackend)
    plain = open_backend(str(tmp_path / "state" / "control.sqlite"))
    assert isinstance(plain, SqliteBackend) and plain.path == tmp_path / "state" / "control.sqlite"
    for url in ("postgresql://u@db:5432/x", "postgres://u@db/x", "POSTGRESQL://db/x"):
        backend = open_backend(url)
        assert isinstance(backend, PostgresBackend) and backend.url == url
    assert RequestStore("postgresql://u@db/x").path is None  # nothing is opened before first use


@pytest.mark.parametrize(
    ("location", "shown", "secret"),
    [
        ("mysql://root:hunter2@db:3306/control", "'mysql://root:***@db:3306/control'", "hunter2"),
        ("sqlite:///tmp/c.sqlite", "'sqlite:///tmp/c.sqlite'", None),
        ("mongodb://db/x?ssl=true&password=hunter2", "'mongodb://db/x?ssl=true&password=***'", "hunter2"),
    ],
)
def test_unknown_url_scheme_is_one_line_naming_the_value_without_its_password(location, shown, secret) -> None:
    for opener in (open_backend, RequestStore, AuditLog):
        with pytest.raises(ConfigError) as err:
            opener(location)
        message = str(err.value)
        assert message == f"control database: {shown}: unsupported database URL (use a file path or postgresql://)"
        assert secret is None or secret not in message


def test_not_a_location_at_all() -> None:
    with pytest.raises(ConfigError, match="control database: 42: must be a file path or a postgresql:// URL"):
        open_backend(42)


def test_the_backend_never_shows_its_password() -> None:
    backend = open_backend("postgresql://app:s3cret@db/control?password=s3cret")
    assert "s3cret" not in repr(backend) and repr(backend).count("***") == 2


def test_postgres_scheme_alias_works_end_to_end(postgres_url: str) -> None:
    store = RequestStore(postgres_url.replace("postgresql://", "postgres://", 1))
    made = store.submit(requester="a", target="b", task_type="etl", work_target="job:etl")
    assert RequestStore(postgres_url).get(made.id) == made


def test_question_marks_and_percent_signs_survive_translation(postgres_url: str) -> None:
    store = RequestStore(postgres_url)
    made = store.submit(requester="50% of ?", target="b", task_type="etl", work_target="job:%s?",
                        facts={"q": "a?b%s%%"})  # fmt: skip
    assert store.get(made.id) == made and made.facts == {"q": "a?b%s%%"}
    with transaction(store.backend) as con:
        assert con.execute("SELECT '100%' || ?", ("?",)).fetchone() == ("100%?",)


def test_audit_log_on_postgres_refuses_update_delete_and_truncate(postgres_url: str) -> None:
    store = RequestStore(postgres_url)
    request = store.submit(requester="a", target="b", task_type="etl", work_target="job:etl")
    assert store.transition(request.id, "denied", expected_from=PENDING, decision={"reasons": ["no rule"]})
    with psycopg.connect(postgres_url, autocommit=True) as con:
        for statement in ("UPDATE delegation_audit SET status = 'launched'",
                          "UPDATE delegation_audit SET status = 'x' WHERE 1 = 0",  # refused even matching nothing
                          "DELETE FROM delegation_audit", "TRUNCATE delegation_audit"):  # fmt: skip
            with pytest.raises(psycopg.errors.RaiseException, match=APPEND_ONLY):
                con.execute(statement)
    assert [(e.request_id, e.status, e.reasons) for e in AuditLog(postgres_url).entries()] == [
        (request.id, "denied", ["no rule"]),
    ]


def test_schema_created_by_many_connections_at_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        barrier.wait()
        try:
            RequestStore(postgres_url).ensure_schema()
        except BaseException as e:  # surfaced below: a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    RequestStore(postgres_url).ensure_schema()  # and again, on tables that exist
    with psycopg.connect(postgres_url) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        ).fetchall()
        triggers = con.execute(
            "SELECT DISTINCT trigger_name FROM information_schema.triggers WHERE trigger_schema = current_schema()"
        ).fetchall()
    assert tables == [("delegation_audit",), ("delegation_requests",)]
    assert triggers == [("delegation_audit_append_only",)]
