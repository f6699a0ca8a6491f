"""The audit log: insert-only API, triggers refusing UPDATE and DELETE, written with decisions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.delegation.audit import APPEND_ONLY, AuditLog
from datacrew_resources.delegation.store import RequestStore

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# What a refused statement raises, on either database.
REFUSED = (sqlite3.DatabaseError, psycopg.DatabaseError)


@pytest.fixture
def log(location: Path | str) -> AuditLog:
    return AuditLog(location)


def test_record_and_entries_in_order_and_by_request(log: AuditLog) -> None:
    log.record("r1", "denied", ["over capacity", "no rule"], "manager->coordinator", "policy", AT)
    log.record("r2", "launched", ["allowed"], None, "policy", AT + timedelta(seconds=1))
    log.record("r1", "escalated", "sent to architect", "manager->coordinator", "policy", AT + timedelta(seconds=2))
    everything = log.entries()
    assert [(e.request_id, e.status) for e in everything] == [("r1", "denied"), ("r2", "launched"), ("r1", "escalated")]
    assert [e.seq for e in everything] == sorted(e.seq for e in everything)
    first, third = log.entries("r1")
    assert first.reasons == ["over capacity", "no rule"] and first.rule == "manager->coordinator"
    assert third.reasons == ["sent to architect"] and third.at == AT + timedelta(seconds=2)
    assert log.entries("r2")[0].rule is None
    assert log.entries("nobody") == []


def test_api_is_insert_only(log: AuditLog) -> None:
    public = {name for name in dir(log) if not name.startswith("_")}
    assert public == {"record", "entries", "backend"}


def test_trigger_refuses_update(log: AuditLog, raw) -> None:
    log.record("r1", "denied", ["no rule"], None, "policy", AT)
    with pytest.raises(REFUSED, match=APPEND_ONLY):
        raw.execute("UPDATE delegation_audit SET status = 'launched'")
    with pytest.raises(REFUSED, match=APPEND_ONLY):
        raw.execute("UPDATE delegation_audit SET reasons = '[]' WHERE request_id = 'r1'")
    assert [(e.status, e.reasons) for e in log.entries()] == [("denied", ["no rule"])]


def test_trigger_refuses_delete(log: AuditLog, raw) -> None:
    log.record("r1", "denied", ["no rule"], None, "policy", AT)
    with pytest.raises(REFUSED, match=APPEND_ONLY):
        raw.execute("DELETE FROM delegation_audit")
    with pytest.raises(REFUSED, match=APPEND_ONLY):
        raw.execute("DELETE FROM delegation_audit WHERE request_id = 'r1'")
    assert len(log.entries()) == 1


def test_trigger_refusal_inside_a_transaction_rolls_back_the_transaction(log: AuditLog, raw) -> None:
    log.record("r1", "denied", ["no rule"], None, "policy", AT)
    raw.execute("BEGIN")
    raw.execute("INSERT INTO delegation_audit (request_id, status, reasons, rule, actor, at)"
                " VALUES ('r2', 'launched', '[]', NULL, 'x', 'now')")  # fmt: skip
    with pytest.raises(REFUSED, match=APPEND_ONLY):
        raw.execute("DELETE FROM delegation_audit WHERE request_id = 'r1'")
    raw.execute("ROLLBACK")
    assert [e.request_id for e in log.entries()] == ["r1"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("", "denied", [], None, "policy", AT), "request_id"),
        (("r1", " ", [], None, "policy", AT), "decision_status"),
        (("r1", "denied", [], None, "", AT), "actor"),
        (("r1", "denied", [], None, "policy", datetime(2026, 1, 1)), "timezone"),
    ],
)
def test_bad_entries_are_refused_and_nothing_written(log: AuditLog, args, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        log.record(*args)
    assert log.entries() == []


def test_shares_the_control_database_with_the_request_store(location: Path | str, raw) -> None:
    store = RequestStore(location)
    request = store.submit(requester="a", target="b", task_type="etl", work_target="job:etl")
    store.transition(request.id, "awaiting_approval", expected_from="pending",
                     decision={"reasons": ["approval required"], "rule": "architect->manager"})  # fmt: skip
    store.reject(request.id, "carol", "too costly")
    entries = AuditLog(location).entries(request.id)
    assert [(e.status, e.actor, e.reasons) for e in entries] == [
        ("awaiting_approval", "policy", ["approval required"]),
        ("rejected", "carol", ["too costly"]),
    ]
    tables = ("SELECT name FROM sqlite_master WHERE type = 'table'" if isinstance(location, Path) else
              "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")  # fmt: skip
    assert {"delegation_requests", "delegation_audit"} <= {row[0] for row in raw.execute(tables).fetchall()}
