"""The append-only audit log of delegation decisions, beside the requests in the control database.

Insert-only by construction: this module offers `record` and `entries` and
nothing else, and triggers in the database refuse UPDATE and DELETE on the
table, whoever connects. The request store writes an entry in the same
transaction as the state change it explains (the architecture's invariant 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .store import Backend, RequestStore, require_text, format_time, reading, transaction

APPEND_ONLY = "delegation audit log is append-only"

# The triggers are SQLite's spelling; PostgreSQL would use a trigger function raising an exception.
AUDIT_DDL = f"""
CREATE TABLE IF NOT EXISTS delegation_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reasons TEXT NOT NULL,
    rule TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delegation_audit_request ON delegation_audit (request_id, seq);
CREATE TRIGGER IF NOT EXISTS delegation_audit_no_update BEFORE UPDATE ON delegation_audit
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END;
CREATE TRIGGER IF NOT EXISTS delegation_audit_no_delete BEFORE DELETE ON delegation_audit
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END;
"""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    request_id: str
    status: str
    reasons: list[str]
    rule: str | None
    actor: str
    at: datetime


def insert_entry(
    con: Any, request_id: str, status: str, reasons: Iterable[str], rule: str | None, actor: str, at: datetime
) -> None:
    """Append one entry on an open connection, inside the caller's transaction."""
    reasons = [reasons] if isinstance(reasons, str) else [str(r) for r in reasons]
    con.execute(
        "INSERT INTO delegation_audit (request_id, status, reasons, rule, actor, at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            require_text(request_id, "request_id"),
            require_text(status, "decision_status"),
            json.dumps(reasons),
            rule,
            require_text(actor, "actor"),
            format_time(at),
        ),
    )


class AuditLog:
    """Decisions in the control database, oldest first; entries are never changed or removed."""

    def __init__(self, path: Path, *, backend: Backend | None = None):
        # The request store owns the schema of both tables.
        self._store = RequestStore(path, backend=backend)
        self.backend = self._store.backend

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        self._store.ensure_schema()
        with transaction(self.backend) as con:
            yield con

    def record(
        self,
        request_id: str,
        decision_status: str,
        reasons: Iterable[str],
        rule: str | None,
        actor: str,
        at: datetime,
    ) -> None:
        """Append one decision; its own transaction."""
        with self._transaction() as con:
            insert_entry(con, request_id, decision_status, reasons, rule, actor, at)

    def entries(self, request_id: str | None = None) -> list[AuditEntry]:
        """Every entry, or one request's, in the order written."""
        self._store.ensure_schema()
        sql = "SELECT seq, request_id, status, reasons, rule, actor, at FROM delegation_audit"
        params: tuple[str, ...] = ()
        if request_id is not None:
            sql += " WHERE request_id = ?"
            params = (request_id,)
        with reading(self.backend) as con:
            rows = con.execute(sql + " ORDER BY seq", params).fetchall()
        return [
            AuditEntry(seq, rid, status, json.loads(reasons), rule, actor, datetime.fromisoformat(at))
            for seq, rid, status, reasons, rule, actor, at in rows
        ]
