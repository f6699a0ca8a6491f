"""The life of a delegation request: its states, the only moves between them (each a
compare-and-set UPDATE the store runs), and its place in the queue of waiting work."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from datacrew_resources.config.errors import ConfigError

from .audit import decision_record, require_text, to_json

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
# Work not launched yet can still go to another agent; after launch the run is that agent's.
# Only pending work: an approval or escalation was given for one named target.
REASSIGNABLE_FROM: tuple[str, ...] = (PENDING,)

# Columns a `Change` may set besides the state.
UPDATABLE = ("run_id", "approved_by", "attempts")


def check_state(state: str, field: str) -> None:
    """Raise a one-line `ConfigError` unless `state` is one of `STATES`."""
    if state not in TRANSITIONS:
        raise ConfigError(f"unknown state (use {', '.join(STATES)})", field=field, value=state)


def check_transition(request_id: str, from_state: str, to_state: str) -> None:
    """Raise a one-line `ConfigError` unless `from_state -> to_state` is in `TRANSITIONS`."""
    for state in (from_state, to_state):
        check_state(state, f"request {request_id}")
    if to_state not in TRANSITIONS[from_state]:
        raise ConfigError(f"illegal transition {from_state} -> {to_state}", field=f"request {request_id}")


@dataclass(frozen=True)
class Change:
    """One compare-and-set for `RequestStore.apply`: only if the state is one of `expected_from`.

    `to_state=None` keeps the state but still stores the decision and audits it (the gate
    re-judged a request that must keep waiting). `fields` may set run_id, approved_by or
    attempts; `increment_attempts` counts a launch.
    """

    request_id: str
    expected_from: tuple[str, ...]  # or one state as a string
    to_state: str | None
    decision: Mapping[str, Any] | Any | None = None
    actor: str = "policy"
    fields: Mapping[str, Any] = field(default_factory=dict)
    increment_attempts: bool = False
    # Also compare: the target judged (a reassignment in between makes the change lose),
    # and, when True, that no run has claimed the request yet.
    expected_target: str | None = None
    expect_no_run: bool = False


# One planned compare-and-set: the UPDATE, its parameters, and the audit entry written if it
# wins (request id, status, reasons, rule, actor).
Step = tuple[str, tuple[Any, ...], tuple[str, str, list[str], str | None, str] | None]


def plan(change: Change, stamp: str) -> Step:
    """Check a change like `transition` does and write its UPDATE; nothing touches the database."""
    rid, to_state = change.request_id, change.to_state
    expected = _expected(rid, change.expected_from)
    for state in expected:
        if to_state is None:
            check_state(state, f"request {rid}")
        else:
            check_transition(rid, state, to_state)
    unknown = sorted(set(change.fields) - set(UPDATABLE))
    if unknown:
        raise ConfigError(f"cannot set {unknown} (only {list(UPDATABLE)})", field=f"request {rid}")
    if to_state is None and change.decision is None:
        raise ConfigError("keeping the state needs a decision", field=f"request {rid}")
    sets, params = (["state = ?", "state_changed_at = ?"], [to_state, stamp]) if to_state is not None else ([], [])
    entry = None
    if change.decision is not None:
        record = decision_record(change.decision, to_state)
        sets.append("decision = ?")
        params.append(to_json(record, "decision"))
        entry = (rid, record["status"], record["reasons"], record["rule"], require_text(change.actor, "actor"))
    for name, value in change.fields.items():
        sets.append(f"{name} = ?")  # name is one of UPDATABLE, never user text
        params.append(value)
    if change.increment_attempts:
        sets.append("attempts = attempts + 1")
    sql, bound, entry = compare_and_set(rid, expected, sets, params, entry)
    if change.expected_target is not None:
        sql, bound = sql + " AND target = ?", (*bound, change.expected_target)
    if change.expect_no_run:
        sql += " AND run_id IS NULL"
    return sql, bound, entry


def reassignment(request_id: str, new_target: str, by: str, reason: str, expected_from: Iterable[str] | str) -> Step:
    """Set the target agent, keeping the state, audited as "reassigned" by `by`: only for
    work not launched yet (`REASSIGNABLE_FROM`); the stored decision stays as it was."""
    expected = _expected(request_id, expected_from)
    for state in expected:
        check_state(state, "expected_from")
        if state not in REASSIGNABLE_FROM:
            raise ConfigError(f"cannot reassign a {state} request", field=f"request {request_id}")
    entry = (request_id, "reassigned", [require_text(reason, "reason")], None, require_text(by, "by"))
    return compare_and_set(request_id, expected, ["target = ?"], [require_text(new_target, "new_target")], entry)


def compare_and_set(
    request_id: str, expected: tuple[str, ...], sets: list[str], params: list[Any], entry: Any
) -> Step:
    """The UPDATE of `sets` on one request, made only while its state is one of `expected`."""
    marks = ", ".join("?" * len(expected))
    sql = f"UPDATE delegation_requests SET {', '.join(sets)} WHERE id = ? AND state IN ({marks})"
    return sql, (*params, request_id, *expected), entry


def _expected(request_id: str, states: Iterable[str] | str) -> tuple[str, ...]:
    expected = (states,) if isinstance(states, str) else tuple(states)  # one state, not its letters
    if not expected:
        raise ConfigError("needs at least one expected state", field=f"request {request_id}")
    return expected


def state_filter(states: Iterable[str] | None) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause keeping requests in `states` (all when None, none when empty), and its parameters."""
    if states is None:
        return "", ()
    wanted = tuple(states)
    for state in wanted:
        check_state(state, "states")
    if not wanted:
        return " WHERE 1 = 0", ()
    return f" WHERE state IN ({', '.join('?' * len(wanted))})", wanted


# --- queue order: priority desc, created_at, id ------------------------------------------


def encode_cursor(priority: int, created_at: str, request_id: str) -> str:
    """The position just after one request in queue order."""
    return json.dumps([int(priority), created_at, request_id])


def decode_cursor(cursor: str) -> tuple[int, str, str]:
    try:
        priority, created_at, request_id = json.loads(cursor)
        return int(priority), str(created_at), str(request_id)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"malformed request cursor: {e}", field="cursor", value=cursor) from None


def after_cursor(cursor: str) -> tuple[str, tuple[Any, ...]]:
    """A condition keeping requests after `cursor` in queue order, and its parameters."""
    priority, created_at, request_id = decode_cursor(cursor)
    later = "(priority < ? OR (priority = ? AND (created_at > ? OR (created_at = ? AND id > ?))))"
    return later, (priority, priority, created_at, created_at, request_id)
