"""The append-only audit log of delegation decisions, beside the requests in the control database.

Insert-only by construction: this module offers `record` and `entries` and
nothing else, and triggers in the database refuse UPDATE and DELETE on the
table, whoever connects. The request store writes an entry in the same
transaction as the state change it explains (the architecture's invariant 1),
with the decision shaped by `decision_record`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datacrew_resources.config.errors import ConfigError

from .backend import APPEND_ONLY as APPEND_ONLY  # the triggers' message, matched by callers
from .backend import Backend, open_backend, reading, transaction

# One entry to append: request id, status, reasons (or one reason), rule, actor, time.
Entry = tuple[str, str, Iterable[str], str | None, str, datetime]


def format_time(at: datetime) -> str:
    """Fixed-width UTC ISO text, so text order is time order (isoformat drops zero microseconds)."""
    if at.tzinfo is None:
        raise ConfigError("timestamps must be timezone-aware", field="at", value=at)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def require_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("must be a non-empty string", field=name, value=value)
    return value.strip()


def to_json(value: Any, name: str) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"not JSON-serialisable: {e}", field=name, value=value) from None


def _getter(source: Any) -> Callable[[str], Any]:
    if isinstance(source, Mapping):
        return source.get
    return lambda name: getattr(source, name, None)


def decision_record(decision: Any, default_status: str | None) -> dict[str, Any]:
    """`{"status", "reasons", "rule"}`, plus `escalation_path` and `alternatives` when present,
    from a mapping or from any object with those attributes (the policy's `Decision`).

    The status defaults to `default_status` (the new state) and is required when there is
    none; the rule is kept as text, alternatives as `{agent_id, match, spare}`.
    """
    get = _getter(decision)
    status = get("status") or default_status
    if not status:
        raise ConfigError("needs a status when the state is kept", field="decision", value=decision)
    reasons, rule = get("reasons"), get("rule")
    record: dict[str, Any] = {
        "status": str(status),
        "reasons": [reasons] if isinstance(reasons, str) else [str(r) for r in reasons or ()],
        "rule": None if rule is None else str(rule),
    }
    path = get("escalation_path")
    if path is not None:
        record["escalation_path"] = [path] if isinstance(path, str) else [str(agent) for agent in path]
    alternatives = get("alternatives")
    if alternatives is not None:
        record["alternatives"] = [_alternative(a) for a in alternatives]
    return record


def _alternative(item: Any) -> dict[str, Any]:
    get = _getter(item)
    try:
        return {"agent_id": require_text(get("agent_id"), "agent_id"), "match": float(get("match")),
                "spare": int(get("spare"))}  # fmt: skip
    except (ConfigError, TypeError, ValueError):
        raise ConfigError("needs agent_id, match and spare", field="decision.alternatives", value=item) from None


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    request_id: str
    status: str
    reasons: list[str]
    rule: str | None
    actor: str
    at: datetime


def insert_entries(con: Any, entries: Iterable[Entry]) -> None:
    """Append entries on an open connection, inside the caller's transaction, in order."""
    rows = []
    for request_id, status, reasons, rule, actor, at in entries:
        reasons = [reasons] if isinstance(reasons, str) else [str(r) for r in reasons]
        rows.append((require_text(request_id, "request_id"), require_text(status, "decision_status"),
                     json.dumps(reasons), rule, require_text(actor, "actor"), format_time(at)))  # fmt: skip
    if rows:
        con.executemany(
            "INSERT INTO delegation_audit (request_id, status, reasons, rule, actor, at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def insert_entry(
    con: Any, request_id: str, status: str, reasons: Iterable[str], rule: str | None, actor: str, at: datetime
) -> None:
    """Append one entry on an open connection, inside the caller's transaction."""
    insert_entries(con, [(request_id, status, reasons, rule, actor, at)])


class AuditLog:
    """Decisions in the control database, oldest first; entries are never changed or removed."""

    def __init__(self, location: Path | str, *, backend: Backend | None = None):
        self.backend = backend or open_backend(location)
        self._ready = False

    def _ensure_schema(self) -> None:
        if not self._ready:
            self.backend.ensure_schema()
            self._ready = True

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
        self._ensure_schema()
        with transaction(self.backend) as con:
            insert_entry(con, request_id, decision_status, reasons, rule, actor, at)

    def entries(self, request_id: str | None = None) -> list[AuditEntry]:
        """Every entry, or one request's, in the order written."""
        self._ensure_schema()
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
