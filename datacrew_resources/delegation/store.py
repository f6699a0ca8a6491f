"""The durable store of delegation requests: one row per request, never deleted.

SQLite in WAL mode (`home.state_dir / "control.sqlite"` by default), so the CLI,
the sensor daemon and run workers can read while one of them writes. Every
change is one transaction, and a state change is a compare-and-set on the
current state: two sensor ticks racing over the same request cannot both
launch it (the architecture's invariant 2). A decision passed with a state
change is written to the audit log in the same transaction (invariant 1).

The SQL is plain and parameterised; everything specific to SQLite (connecting,
`BEGIN IMMEDIATE`, the DDL) lives in `SqliteBackend`, so a PostgreSQL backend
can later replace it behind the same small interface.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from datacrew_resources.config.errors import ConfigError

CONTROL_DB = "control.sqlite"


class Priority(IntEnum):
    """The tutorial's `DataTaskPriority`: higher values are served first."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4
    EMERGENCY = 5

    @classmethod
    def parse(cls, value: Priority | int | str) -> Priority:
        """A priority from an enum member, its value (1..5) or its name (any case)."""
        try:
            if isinstance(value, str) and not value.strip().isdigit():
                return cls[value.strip().upper()]
            return cls(int(value))
        except (KeyError, ValueError, TypeError):
            names = ", ".join(p.name for p in cls)
            raise ConfigError(f"unknown priority (use {names} or 1..5)", field="priority", value=value) from None


# States.
PENDING = "pending"
AWAITING_APPROVAL = "awaiting_approval"
APPROVED = "approved"
LAUNCHED = "launched"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
DENIED = "denied"
ESCALATED = "escalated"
REJECTED = "rejected"

# Every legal move; anything else is refused. Terminal states have no way out.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({AWAITING_APPROVAL, APPROVED, LAUNCHED, DENIED, ESCALATED}),
    AWAITING_APPROVAL: frozenset({APPROVED, REJECTED, DENIED}),
    # Someone on the escalation path decides.
    ESCALATED: frozenset({APPROVED, REJECTED}),
    # Approved work is re-checked at launch time (capacity, rules may have changed).
    APPROVED: frozenset({LAUNCHED, DENIED}),
    # A run can finish before its start is observed: the ledger reconciles straight to the end.
    LAUNCHED: frozenset({RUNNING, SUCCEEDED, FAILED}),
    RUNNING: frozenset({SUCCEEDED, FAILED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    DENIED: frozenset(),
    REJECTED: frozenset(),
}
STATES: tuple[str, ...] = tuple(TRANSITIONS)
TERMINAL: frozenset[str] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# States the gate sensor acts on: new requests, and approved ones waiting to launch.
ACTIONABLE: tuple[str, ...] = (PENDING, APPROVED)
LAUNCHABLE_FROM: tuple[str, ...] = (PENDING, APPROVED)
APPROVABLE_FROM: tuple[str, ...] = (AWAITING_APPROVAL, ESCALATED)

# Columns `transition(..., **fields)` may set besides the state.
_UPDATABLE = ("run_id", "approved_by", "attempts")


def check_transition(request_id: str, from_state: str, to_state: str) -> None:
    """Raise a one-line `ConfigError` unless `from_state -> to_state` is in `TRANSITIONS`."""
    for state in (from_state, to_state):
        if state not in TRANSITIONS:
            raise ConfigError(f"unknown state (use {', '.join(STATES)})", field=f"request {request_id}", value=state)
    if to_state not in TRANSITIONS[from_state]:
        raise ConfigError(f"illegal transition {from_state} -> {to_state}", field=f"request {request_id}")


def _now() -> datetime:
    return datetime.now(UTC)


def format_time(at: datetime) -> str:
    """Fixed-width UTC ISO text, so text order is time order (isoformat drops zero microseconds)."""
    if at.tzinfo is None:
        raise ConfigError("timestamps must be timezone-aware", field="at", value=at)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _json(value: Any, name: str) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"not JSON-serialisable: {e}", field=name, value=value) from None


# --- the backend: everything that would differ under PostgreSQL ---------------------------


class Backend(Protocol):
    """Connections and transactions for one database; SQL uses `?` parameters."""

    def connect(self) -> Any: ...  # a DB-API connection, closed by the caller

    def begin(self, con: Any) -> None: ...

    def ensure_schema(self, con: Any, ddl: str) -> None: ...


class SqliteBackend:
    """A SQLite file in WAL mode; a connection per call, safe across threads and processes."""

    def __init__(self, path: Path, *, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = timeout

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit, so `begin` decides the locking.
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        return con

    def begin(self, con: sqlite3.Connection) -> None:
        # Take the write lock up front: a read-then-write never fails mid-way on upgrade.
        con.execute("BEGIN IMMEDIATE")

    def ensure_schema(self, con: sqlite3.Connection, ddl: str) -> None:
        con.executescript(ddl)


@contextmanager
def transaction(backend: Backend) -> Iterator[Any]:
    """One transaction: committed if the block finishes, rolled back on any exception."""
    con = backend.connect()
    try:
        backend.begin(con)
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        con.commit()
    finally:
        con.close()


@contextmanager
def reading(backend: Backend) -> Iterator[Any]:
    con = backend.connect()
    try:
        yield con
    finally:
        con.close()


_REQUESTS_DDL = """
CREATE TABLE IF NOT EXISTS delegation_requests (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    requester TEXT NOT NULL,
    target TEXT NOT NULL,
    task_type TEXT NOT NULL,
    work_target TEXT NOT NULL,
    priority INTEGER NOT NULL,
    facts TEXT NOT NULL,
    resources TEXT NOT NULL,
    classifications TEXT NOT NULL,
    state TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    decision TEXT,
    run_id TEXT,
    approved_by TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS delegation_requests_queue
    ON delegation_requests (state, priority DESC, created_at, id);
"""

_COLUMNS = (
    "id, created_at, requester, target, task_type, work_target, priority, facts, resources,"
    " classifications, state, state_changed_at, decision, run_id, approved_by, attempts"
)


@dataclass(frozen=True)
class Request:
    """One delegation request as stored."""

    id: str
    created_at: datetime
    requester: str
    target: str
    task_type: str
    work_target: str  # the asset key or job the task type maps to
    priority: Priority
    facts: dict[str, Any]
    resources: dict[str, Any]
    classifications: list[str]
    state: str
    state_changed_at: datetime
    decision: dict[str, Any] | None = None  # {"status", "reasons", "rule"}
    run_id: str | None = None
    approved_by: str | None = None
    attempts: int = 0
    cursor: str = field(default="", compare=False, repr=False)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Request:
        (rid, created, requester, target, task_type, work_target, priority, facts, resources,
         classifications, state, changed, decision, run_id, approved_by, attempts) = row  # fmt: skip
        return cls(
            id=rid,
            created_at=datetime.fromisoformat(created),
            requester=requester,
            target=target,
            task_type=task_type,
            work_target=work_target,
            priority=Priority(priority),
            facts=json.loads(facts),
            resources=json.loads(resources),
            classifications=json.loads(classifications),
            state=state,
            state_changed_at=datetime.fromisoformat(changed),
            decision=json.loads(decision) if decision else None,
            run_id=run_id,
            approved_by=approved_by,
            attempts=attempts,
            cursor=encode_cursor(priority, created, rid),
        )


def encode_cursor(priority: int, created_at: str, request_id: str) -> str:
    """The position just after one request in queue order (priority desc, created_at, id)."""
    return json.dumps([int(priority), created_at, request_id])


def decode_cursor(cursor: str) -> tuple[int, str, str]:
    try:
        priority, created_at, request_id = json.loads(cursor)
        return int(priority), str(created_at), str(request_id)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"malformed request cursor: {e}", field="cursor", value=cursor) from None


def _decision_json(decision: Any, to_state: str) -> dict[str, Any]:
    """`{"status", "reasons", "rule"}` from a mapping or from any object with those attributes
    (the policy's `Decision`); the status defaults to the new state, the rule is kept as text."""
    if isinstance(decision, Mapping):
        status, reasons, rule = decision.get("status"), decision.get("reasons", []), decision.get("rule")
    else:
        status, reasons, rule = (getattr(decision, name, None) for name in ("status", "reasons", "rule"))
    reasons = [reasons] if isinstance(reasons, str) else [str(r) for r in reasons or ()]
    return {"status": str(status or to_state), "reasons": reasons, "rule": None if rule is None else str(rule)}


def require_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("must be a non-empty string", field=name, value=value)
    return value.strip()


class RequestStore:
    """Delegation requests in the control database; the file is created on first use."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _now, backend: Backend | None = None):
        self.path = Path(path)
        self.backend: Backend = backend or SqliteBackend(self.path)
        self._clock = clock
        self._ready = False

    def ensure_schema(self) -> None:
        if self._ready:
            return
        from .audit import AUDIT_DDL  # audit imports this module: import at use

        with reading(self.backend) as con:
            self.backend.ensure_schema(con, _REQUESTS_DDL + AUDIT_DDL)
        self._ready = True

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        self.ensure_schema()
        with transaction(self.backend) as con:
            yield con

    # --- writes ----------------------------------------------------------------------------

    def submit(
        self,
        *,
        requester: str,
        target: str,
        task_type: str,
        work_target: str,
        priority: Priority | int | str = Priority.MEDIUM,
        facts: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        classifications: Iterable[str] = (),
    ) -> Request:
        """Store a new pending request and return it; validation of names is the policy's job."""
        values = {
            "requester": require_text(requester, "requester"),
            "target": require_text(target, "target"),
            "task_type": require_text(task_type, "task_type"),
            "work_target": require_text(work_target, "work_target"),
        }
        level = Priority.parse(priority)
        facts_json = _json(dict(facts or {}), "facts")
        resources_json = _json(dict(resources or {}), "resources")
        classes_json = _json(sorted({require_text(c, "classifications") for c in classifications}), "classifications")
        request_id = uuid.uuid4().hex
        at = format_time(self._clock())
        row = (request_id, at, values["requester"], values["target"], values["task_type"], values["work_target"],
               int(level), facts_json, resources_json, classes_json, PENDING, at, None, None, None, 0)  # fmt: skip
        with self._transaction() as con:
            con.execute(f"INSERT INTO delegation_requests ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row)
        return Request.from_row(row)

    def transition(
        self,
        request_id: str,
        to_state: str,
        *,
        expected_from: str,
        decision: Mapping[str, Any] | Any | None = None,
        actor: str = "policy",
        **fields: Any,
    ) -> bool:
        """Compare-and-set: move to `to_state` only if the state is still `expected_from`.

        Returns False (and changes nothing) when another writer moved the request first.
        An illegal move or an unknown request raises `ConfigError`. A `decision`
        (status, reasons, rule) is stored on the request and appended to the audit
        log by `actor` in the same transaction.
        """
        return self._transition(request_id, to_state, (expected_from,), decision=decision, actor=actor, **fields)

    def _transition(
        self,
        request_id: str,
        to_state: str,
        expected: Sequence[str],
        *,
        decision: Mapping[str, Any] | Any | None = None,
        actor: str = "policy",
        increment_attempts: bool = False,
        **fields: Any,
    ) -> bool:
        for state in expected:
            check_transition(request_id, state, to_state)
        unknown = sorted(set(fields) - set(_UPDATABLE))
        if unknown:
            raise ConfigError(f"cannot set {unknown} (only {list(_UPDATABLE)})", field=f"request {request_id}")
        at = self._clock()
        stamp = format_time(at)
        sets = ["state = ?", "state_changed_at = ?"]
        params: list[Any] = [to_state, stamp]
        record = _decision_json(decision, to_state) if decision is not None else None
        if record is not None:
            sets.append("decision = ?")
            params.append(_json(record, "decision"))
        for name, value in fields.items():
            sets.append(f"{name} = ?")  # name is one of _UPDATABLE, never user text
            params.append(value)
        if increment_attempts:
            sets.append("attempts = attempts + 1")
        placeholders = ", ".join("?" * len(expected))
        with self._transaction() as con:
            row = con.execute("SELECT state FROM delegation_requests WHERE id = ?", (request_id,)).fetchone()
            if row is None:
                raise ConfigError("unknown request", field="request", value=request_id)
            if row[0] not in expected:
                return False
            cur = con.execute(
                f"UPDATE delegation_requests SET {', '.join(sets)} WHERE id = ? AND state IN ({placeholders})",
                (*params, request_id, *expected),
            )
            if cur.rowcount != 1:  # lost the race under a weaker isolation level (PostgreSQL)
                return False
            if record is not None:
                from .audit import insert_entry

                insert_entry(con, request_id, record["status"], record["reasons"], record["rule"], actor, at)
        return True

    def approve(self, request_id: str, by: str) -> Request:
        """A person approves a request awaiting approval (or escalated to them)."""
        by = require_text(by, "by")
        current = self.require(request_id)
        decision = {"status": APPROVED, "reasons": [f"approved by {by}"], "rule": _rule_of(current)}
        if current.state not in APPROVABLE_FROM or not self._transition(
            request_id, APPROVED, (current.state,), decision=decision, actor=by, approved_by=by
        ):
            latest = self.require(request_id)
            raise ConfigError(f"is {latest.state}, not awaiting approval", field=f"request {request_id}")
        return self.require(request_id)

    def reject(self, request_id: str, by: str, reason: str) -> Request:
        """A person rejects a request awaiting approval (or escalated to them)."""
        by = require_text(by, "by")
        reason = require_text(reason, "reason")
        current = self.require(request_id)
        decision = {"status": REJECTED, "reasons": [reason], "rule": _rule_of(current)}
        if current.state not in APPROVABLE_FROM or not self._transition(
            request_id, REJECTED, (current.state,), decision=decision, actor=by, approved_by=by
        ):
            latest = self.require(request_id)
            raise ConfigError(f"is {latest.state}, not awaiting approval", field=f"request {request_id}")
        return self.require(request_id)

    def mark_launched(
        self,
        request_id: str,
        run_id: str | None = None,
        *,
        decision: Mapping[str, Any] | Any | None = None,
        actor: str = "policy",
    ) -> bool:
        """Compare-and-set from pending or approved to launched, counting the attempt.

        False means someone else launched (or decided) it first: do not yield a
        `RunRequest`. The run id may be unknown at launch (the run key is the
        request id); the run-status sensor fills it in on `launched -> running`.
        """
        fields = {"run_id": run_id} if run_id is not None else {}
        return self._transition(
            request_id, LAUNCHED, LAUNCHABLE_FROM, decision=decision, actor=actor, increment_attempts=True, **fields
        )

    # --- reads -----------------------------------------------------------------------------

    def get(self, request_id: str) -> Request | None:
        self.ensure_schema()
        with reading(self.backend) as con:
            row = con.execute(f"SELECT {_COLUMNS} FROM delegation_requests WHERE id = ?", (request_id,)).fetchone()
        return Request.from_row(row) if row else None

    def require(self, request_id: str) -> Request:
        request = self.get(request_id)
        if request is None:
            raise ConfigError("unknown request", field="request", value=request_id)
        return request

    def list(self, states: Iterable[str] | None = None, limit: int = 100) -> list[Request]:
        """Requests oldest first, optionally only in some states."""
        where, params = _state_filter(states)
        self.ensure_schema()
        with reading(self.backend) as con:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM delegation_requests{where} ORDER BY created_at, id LIMIT ?",
                (*params, int(limit)),
            ).fetchall()
        return [Request.from_row(r) for r in rows]

    def pending_batch(
        self, limit: int, after: str | None = None, *, states: Iterable[str] = (PENDING,)
    ) -> tuple[list[Request], str | None]:
        """Up to `limit` requests in queue order (priority desc, created_at, id) after `after`.

        Returns the batch and the cursor for the next one: None once the queue is
        exhausted, so the next tick starts again from the top (and sees requests
        submitted meanwhile at a higher priority).
        """
        if limit < 1:
            raise ConfigError("must be at least 1", field="limit", value=limit)
        where, params = _state_filter(states)
        if after:
            priority, created_at, request_id = decode_cursor(after)
            where += " AND (priority < ? OR (priority = ? AND (created_at > ? OR (created_at = ? AND id > ?))))"
            params = (*params, priority, priority, created_at, created_at, request_id)
        self.ensure_schema()
        with reading(self.backend) as con:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM delegation_requests{where}"
                " ORDER BY priority DESC, created_at, id LIMIT ?",
                (*params, int(limit)),
            ).fetchall()
        batch = [Request.from_row(r) for r in rows]
        return batch, (batch[-1].cursor if len(batch) == limit else None)

    def counts(self) -> dict[str, int]:
        """How many requests are in each state (every state listed)."""
        self.ensure_schema()
        with reading(self.backend) as con:
            rows = con.execute("SELECT state, COUNT(*) FROM delegation_requests GROUP BY state").fetchall()
        found = dict(rows)
        return {state: found.get(state, 0) for state in STATES}


def _rule_of(request: Request) -> str | None:
    return (request.decision or {}).get("rule")


def _state_filter(states: Iterable[str] | None) -> tuple[str, tuple[str, ...]]:
    if states is None:
        return "", ()
    wanted = tuple(states)
    bad = [s for s in wanted if s not in TRANSITIONS]
    if bad:
        raise ConfigError(f"unknown state (use {', '.join(STATES)})", field="states", value=bad)
    if not wanted:
        return " WHERE 1 = 0", ()
    return f" WHERE state IN ({', '.join('?' * len(wanted))})", wanted
