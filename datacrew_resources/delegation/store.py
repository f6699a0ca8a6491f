"""The durable store of delegation requests: one row per request, never deleted.

A SQLite file (`home.state_dir / "control.sqlite"` by default) or a PostgreSQL schema
(`backend`), read by the CLI, the sensor daemon and run workers while one writes. Every
change is a compare-and-set on the current state (`states`): two sensor ticks racing over
one request cannot both launch it (the architecture's invariant 2). A decision passed
with a change is audited in the same transaction (invariant 1).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from functools import partial
from pathlib import Path
from typing import Any

from datacrew_resources.config.errors import ConfigError

# The state names, the backends and the cursor helpers lived here before the split: still importable.
from . import audit
from .audit import format_time, require_text, to_json
from .backend import Backend, PostgresBackend, SqliteBackend, open_backend, reading, transaction
from .states import (
    ACTIONABLE, APPROVABLE_FROM, APPROVED, AWAITING_APPROVAL, DENIED, ESCALATED, FAILED, LAUNCHABLE_FROM, LAUNCHED,
    PENDING, REASSIGNABLE_FROM, REJECTED, RUNNING, STATES, SUCCEEDED, TERMINAL, TRANSITIONS, Change, Step,
    after_cursor, check_transition, decode_cursor, encode_cursor, plan, reassignment, state_filter,
)  # fmt: skip

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


_COLUMNS = (
    "id, created_at, requester, target, task_type, work_target, priority, facts, resources,"
    " classifications, state, state_changed_at, decision, run_id, approved_by, attempts, origin_key"
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
    decision: dict[str, Any] | None = None  # `audit.decision_record`: status, reasons, rule, ...
    run_id: str | None = None
    approved_by: str | None = None
    attempts: int = 0
    origin_key: str | None = None  # the submitter's idempotency key, e.g. one schedule tick's
    cursor: str = field(default="", compare=False, repr=False)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Request:
        (rid, created, requester, target, task_type, work_target, priority, facts, resources,
         classifications, state, changed, decision, run_id, approved_by, attempts, origin_key) = row  # fmt: skip
        return cls(rid, datetime.fromisoformat(created), requester, target, task_type, work_target,
                   Priority(priority), json.loads(facts), json.loads(resources), json.loads(classifications), state,
                   datetime.fromisoformat(changed), json.loads(decision) if decision else None, run_id, approved_by,
                   attempts, origin_key, encode_cursor(priority, created, rid))  # fmt: skip


class RequestStore:
    """Delegation requests in the control database, a SQLite path or a PostgreSQL URL;
    the tables are created on first use (or pass a `backend`)."""

    def __init__(self, location: Path | str, *, clock: Callable[[], datetime] = partial(datetime.now, UTC),
                 backend: Backend | None = None):
        self.location = location
        self.backend: Backend = backend or open_backend(location)
        self.path: Path | None = getattr(self.backend, "path", None)  # the SQLite file, if that is the backend
        self._clock = clock
        self._ready = False

    def ensure_schema(self) -> None:
        if not self._ready:
            self.backend.ensure_schema()
            self._ready = True

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        self.ensure_schema()
        with transaction(self.backend) as con:
            yield con

    # --- writes ----------------------------------------------------------------------------

    def submit(
        self, *, requester: str, target: str, task_type: str, work_target: str,
        priority: Priority | int | str = Priority.MEDIUM, facts: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None, classifications: Iterable[str] = (), origin_key: str | None = None,
    ) -> Request:
        """Store a new pending request and return it; validation of names is the policy's job.

        A request already stored with the same `origin_key` is returned instead, and
        nothing is added: a retried schedule tick does not submit its work twice.
        """
        values = [require_text(v, n) for v, n in ((requester, "requester"), (target, "target"),
                                                  (task_type, "task_type"), (work_target, "work_target"))]  # fmt: skip
        level = Priority.parse(priority)
        facts_json = to_json(dict(facts or {}), "facts")
        resources_json = to_json(dict(resources or {}), "resources")
        classes_json = to_json(sorted({require_text(c, "classifications") for c in classifications}), "classifications")
        key = None if origin_key is None else require_text(origin_key, "origin_key")
        at = format_time(self._clock())
        row = (uuid.uuid4().hex, at, *values, int(level), facts_json, resources_json, classes_json,
               PENDING, at, None, None, None, 0, key)  # fmt: skip
        with self._transaction() as con:
            added = con.execute(
                f"INSERT INTO delegation_requests ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})"
                " ON CONFLICT (origin_key) DO NOTHING",
                row,
            ).rowcount
            if not added:  # the key is taken (a NULL key never conflicts)
                row = con.execute(f"SELECT {_COLUMNS} FROM delegation_requests WHERE origin_key = ?", (key,)).fetchone()
        return Request.from_row(row)

    def apply(self, changes: Sequence[Change]) -> list[bool]:
        """Many compare-and-sets in one transaction, in order; True where the change was made.

        Every change is checked like `transition` first: an illegal one raises and nothing
        is written. False means the state had moved on or the request does not exist; that
        change writes nothing, not even an audit entry.
        """
        at = self._clock()
        stamp = format_time(at)
        return self._run([plan(change, stamp) for change in changes], at)

    def _run(self, steps: Sequence[Step], at: datetime) -> list[bool]:
        if not steps:
            return []
        with self._transaction() as con:
            won = [n == 1 for n in self.backend.rowcounts(con, [(sql, params) for sql, params, _ in steps])]
            audit.insert_entries(con, [(*entry, at) for (_, _, entry), ok in zip(steps, won) if ok and entry])
        return won

    def _one(self, request_id: str, step: Step, at: datetime) -> bool:
        """One step; False only when the state moved on (an unknown request raises)."""
        if self._run([step], at)[0]:
            return True
        self.require(request_id)
        return False

    def transition(
        self, request_id: str, to_state: str, *, expected_from: str,
        decision: Mapping[str, Any] | Any | None = None, actor: str = "policy", **fields: Any,
    ) -> bool:
        """Compare-and-set: move to `to_state` only if the state is still `expected_from`.

        Returns False (and changes nothing) when another writer moved the request first.
        An illegal move or an unknown request raises `ConfigError`. A `decision` is stored
        on the request and appended to the audit log by `actor` in the same transaction.
        """
        change = Change(request_id, (expected_from,), to_state, decision, actor, fields)
        at = self._clock()
        return self._one(request_id, plan(change, format_time(at)), at)

    def mark_launched(
        self, request_id: str, run_id: str | None = None, *,
        decision: Mapping[str, Any] | Any | None = None, actor: str = "policy",
    ) -> bool:
        """Compare-and-set from pending or approved to launched, counting the attempt.

        False means someone else launched (or decided) it first: do not yield a
        `RunRequest`. The run id may be unknown at launch (the run key is the
        request id); the run-status sensor fills it in on `launched -> running`.
        """
        fields = {"run_id": run_id} if run_id is not None else {}
        change = Change(request_id, LAUNCHABLE_FROM, LAUNCHED, decision, actor, fields, increment_attempts=True)
        at = self._clock()
        return self._one(request_id, plan(change, format_time(at)), at)

    def approve(self, request_id: str, by: str) -> Request:
        """A person approves a request awaiting approval (or escalated to them)."""
        by = require_text(by, "by")
        return self._judge(request_id, APPROVED, by, f"approved by {by}")

    def reject(self, request_id: str, by: str, reason: str) -> Request:
        """A person rejects a request awaiting approval (or escalated to them)."""
        return self._judge(request_id, REJECTED, require_text(by, "by"), require_text(reason, "reason"))

    def _judge(self, request_id: str, to_state: str, by: str, reason: str) -> Request:
        current = self.require(request_id)
        decision = {"status": to_state, "reasons": [reason], "rule": (current.decision or {}).get("rule")}
        change = Change(request_id, (current.state,), to_state, decision, by, {"approved_by": by})
        if current.state not in APPROVABLE_FROM or not self.apply([change])[0]:
            latest = self.require(request_id)
            raise ConfigError(f"is {latest.state}, not awaiting approval", field=f"request {request_id}")
        return self.require(request_id)

    def reassign(
        self, request_id: str, new_target: str, *, by: str, reason: str, expected_from: Sequence[str] = (PENDING,)
    ) -> bool:
        """Compare-and-set the target agent, keeping the state; audited as "reassigned" by `by`.

        Only work not launched yet moves (`REASSIGNABLE_FROM`). False when the state moved
        on; an unknown request raises. The stored decision (with its alternatives) stays.
        """
        step = reassignment(request_id, new_target, by, reason, expected_from)
        return self._one(request_id, step, self._clock())

    # --- reads -----------------------------------------------------------------------------

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self.ensure_schema()
        with reading(self.backend) as con:
            return con.execute(sql, tuple(params)).fetchall()

    def get(self, request_id: str) -> Request | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM delegation_requests WHERE id = ?", (request_id,))
        return Request.from_row(rows[0]) if rows else None

    def require(self, request_id: str) -> Request:
        request = self.get(request_id)
        if request is None:
            raise ConfigError("unknown request", field="request", value=request_id)
        return request

    def list(self, states: Iterable[str] | None = None, limit: int = 100) -> list[Request]:
        """Requests oldest first, optionally only in some states."""
        where, params = state_filter(states)
        sql = f"SELECT {_COLUMNS} FROM delegation_requests{where} ORDER BY created_at, id LIMIT ?"
        return [Request.from_row(r) for r in self._read(sql, (*params, int(limit)))]

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
        where, params = state_filter(states)
        if after:
            later, position = after_cursor(after)
            where, params = f"{where} AND {later}", (*params, *position)
        sql = f"SELECT {_COLUMNS} FROM delegation_requests{where} ORDER BY priority DESC, created_at, id LIMIT ?"
        batch = [Request.from_row(r) for r in self._read(sql, (*params, int(limit)))]
        return batch, (batch[-1].cursor if len(batch) == limit else None)

    def counts(self) -> dict[str, int]:
        """How many requests are in each state (every state listed)."""
        found = dict(self._read("SELECT state, COUNT(*) FROM delegation_requests GROUP BY state"))
        return {state: found.get(state, 0) for state in STATES}

    def workload(self, states: Iterable[str] = (LAUNCHED, RUNNING)) -> dict[str, int]:
        """How many requests each target agent has in `states`; agents with none are absent."""
        where, params = state_filter(states)
        rows = self._read(f"SELECT target, COUNT(*) FROM delegation_requests{where} GROUP BY target", params)
        return {target: int(n) for target, n in rows}
