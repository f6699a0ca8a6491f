"""The request store on both backends: transitions, compare-and-set under threads and processes,
batched changes, idempotent submits, reassignment, workload, batches, crashes."""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import threading
from collections import deque
from dataclasses import dataclass
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.delegation import audit as audit_module
from datacrew_resources.delegation.audit import AuditLog
from datacrew_resources.delegation.policy import Alternative, Decision
from datacrew_resources.delegation.store import (
    ACTIONABLE,
    APPROVED,
    AWAITING_APPROVAL,
    DENIED,
    ESCALATED,
    LAUNCHED,
    PENDING,
    RUNNING,
    STATES,
    SUCCEEDED,
    TERMINAL,
    TRANSITIONS,
    Change,
    Priority,
    RequestStore,
)

LEGAL = sorted((a, b) for a, targets in TRANSITIONS.items() for b in targets)
ILLEGAL = sorted((a, b) for a in STATES for b in STATES if b not in TRANSITIONS[a])


def _path_to(state: str) -> list[str]:
    """The shortest sequence of states from pending to `state` (BFS over the table)."""
    seen = {PENDING: [PENDING]}
    queue = deque([PENDING])
    while queue:
        here = queue.popleft()
        for there in sorted(TRANSITIONS[here]):
            if there not in seen:
                seen[there] = [*seen[here], there]
                queue.append(there)
    return seen[state]


@pytest.fixture
def store(location: Path | str) -> RequestStore:
    return RequestStore(location)


def _submit(store: RequestStore, **overrides):
    values = dict(requester="architect", target="manager", task_type="etl", work_target="job:etl_daily")
    values.update(overrides)
    return store.submit(**values)


def _drive(store: RequestStore, request_id: str, state: str) -> None:
    path = _path_to(state)
    for here, there in zip(path, path[1:], strict=False):
        assert store.transition(request_id, there, expected_from=here)


def test_sqlite_wal_mode_and_file_in_given_path(tmp_path: Path) -> None:
    store = RequestStore(tmp_path / "state" / "control.sqlite")
    _submit(store)
    assert store.path.exists()
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_submit_round_trips_every_field(store: RequestStore) -> None:
    made = _submit(
        store,
        priority="critical",
        facts={"quality": 0.9, "rows": 10},
        resources={"cpu": 2},
        classifications=["pii", "finance", "pii"],
    )
    assert len(made.id) == 32 and made.state == PENDING and made.attempts == 0
    got = store.get(made.id)
    assert got == made
    assert got.priority is Priority.CRITICAL
    assert got.facts == {"quality": 0.9, "rows": 10} and got.resources == {"cpu": 2}
    assert got.classifications == ["finance", "pii"]
    assert got.created_at.tzinfo is not None and got.decision is None
    assert store.get("nope") is None


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"priority": "urgent"}, "priority"),
        ({"priority": 9}, "priority"),
        ({"requester": "  "}, "requester"),
        ({"work_target": None}, "work_target"),
        ({"facts": {"when": object()}}, "facts"),
    ],
)
def test_submit_bad_input_is_one_line_and_stores_nothing(store: RequestStore, overrides, needle) -> None:
    with pytest.raises(ConfigError) as err:
        _submit(store, **overrides)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert store.list() == []


@pytest.mark.parametrize(("from_state", "to_state"), LEGAL)
def test_every_legal_transition(store: RequestStore, from_state: str, to_state: str) -> None:
    request = _submit(store)
    _drive(store, request.id, from_state)
    assert store.transition(request.id, to_state, expected_from=from_state)
    after = store.get(request.id)
    assert after.state == to_state
    assert after.state_changed_at >= request.created_at


def test_every_illegal_transition_raises_one_line_naming_request_and_states(store: RequestStore) -> None:
    assert len(ILLEGAL) + len(LEGAL) == len(STATES) ** 2
    request = _submit(store)
    for from_state, to_state in ILLEGAL:
        with pytest.raises(ConfigError) as err:
            store.transition(request.id, to_state, expected_from=from_state)
        message = str(err.value)
        assert request.id in message and f"{from_state} -> {to_state}" in message and "\n" not in message
    assert store.get(request.id).state == PENDING


@pytest.mark.parametrize(
    ("reach", "to_state"),
    [
        ("succeeded", RUNNING),
        ("denied", APPROVED),
        ("rejected", APPROVED),
        ("launched", PENDING),
        ("running", LAUNCHED),
    ],
)
def test_a_few_illegal_moves_from_real_states_leave_the_request_alone(store, reach, to_state) -> None:
    request = _submit(store)
    _drive(store, request.id, reach)
    with pytest.raises(ConfigError, match=f"{reach} -> {to_state}"):
        store.transition(request.id, to_state, expected_from=reach)
    assert store.get(request.id).state == reach


def test_terminal_states_have_no_way_out() -> None:
    assert TERMINAL == {"succeeded", "failed", "denied", "rejected"}


def test_transition_compare_and_set_returns_false_when_state_moved(store: RequestStore) -> None:
    request = _submit(store)
    assert store.transition(request.id, AWAITING_APPROVAL, expected_from=PENDING)
    # A second tick still believing it pending loses, and changes nothing.
    assert not store.transition(request.id, LAUNCHED, expected_from=PENDING)
    assert store.get(request.id).state == AWAITING_APPROVAL


def test_transition_refuses_unknown_request_state_and_field(store: RequestStore) -> None:
    request = _submit(store)
    with pytest.raises(ConfigError, match="unknown request"):
        store.transition("missing", LAUNCHED, expected_from=PENDING)
    with pytest.raises(ConfigError, match="unknown state"):
        store.transition(request.id, "exploded", expected_from=PENDING)
    with pytest.raises(ConfigError, match="cannot set"):
        store.transition(request.id, LAUNCHED, expected_from=PENDING, state="succeeded")
    assert store.get(request.id).state == PENDING


def test_transition_sets_fields_and_audits_decision_atomically(store: RequestStore) -> None:
    request = _submit(store)
    decision = {"status": "denied", "reasons": ["over capacity"], "rule": "manager->coordinator"}
    assert store.transition(request.id, "denied", expected_from=PENDING, decision=decision)
    assert store.get(request.id).decision == decision
    [entry] = AuditLog(store.location).entries(request.id)
    assert (entry.status, entry.reasons, entry.actor) == ("denied", ["over capacity"], "policy")
    assert entry.rule == decision["rule"]


def test_mark_launched_once_from_pending_or_approved(store: RequestStore) -> None:
    first, second = _submit(store), _submit(store)
    assert store.mark_launched(first.id, decision={"reasons": ["allowed"], "rule": "r1"})
    assert not store.mark_launched(first.id)
    launched = store.get(first.id)
    assert (launched.state, launched.attempts, launched.run_id) == (LAUNCHED, 1, None)
    assert launched.decision == {"status": LAUNCHED, "reasons": ["allowed"], "rule": "r1"}
    _drive(store, second.id, APPROVED)
    assert store.mark_launched(second.id, "run-123")
    assert store.get(second.id).run_id == "run-123"
    assert store.transition(first.id, RUNNING, expected_from=LAUNCHED, run_id="run-9")
    assert store.get(first.id).run_id == "run-9"


def test_decision_objects_with_attributes_are_stored_like_mappings(store: RequestStore) -> None:
    @dataclass(frozen=True)
    class PolicyDecision:  # the shape of the policy's Decision: status, rule index, reasons tuple
        status: str
        rule: int | None
        reasons: tuple[str, ...]

    request = _submit(store)
    assert store.mark_launched(request.id, decision=PolicyDecision("allowed", 2, ("rule 2 allows", "capacity ok")))
    stored = store.get(request.id).decision
    assert stored == {"status": "allowed", "reasons": ["rule 2 allows", "capacity ok"], "rule": "2"}
    [entry] = AuditLog(store.location).entries(request.id)
    assert (entry.status, entry.rule, entry.reasons) == ("allowed", "2", ["rule 2 allows", "capacity ok"])


@pytest.mark.parametrize("waiting", [AWAITING_APPROVAL, ESCALATED])
def test_approve_and_reject(store: RequestStore, waiting: str) -> None:
    yes, no = _submit(store), _submit(store)
    decision = {"status": waiting, "reasons": ["needs sign-off"], "rule": "architect->manager"}
    for request in (yes, no):
        assert store.transition(request.id, waiting, expected_from=PENDING, decision=decision)
    approved = store.approve(yes.id, "alice")
    assert (approved.state, approved.approved_by) == (APPROVED, "alice")
    assert approved.decision["rule"] == "architect->manager"
    rejected = store.reject(no.id, "bob", "not this quarter")
    assert (rejected.state, rejected.decision["reasons"]) == ("rejected", ["not this quarter"])
    log = AuditLog(store.location)
    assert [(e.status, e.actor) for e in log.entries(yes.id)] == [(waiting, "policy"), (APPROVED, "alice")]
    assert [(e.status, e.actor) for e in log.entries(no.id)] == [(waiting, "policy"), ("rejected", "bob")]


def test_approve_refuses_wrong_state_unknown_request_and_blank_name(store: RequestStore) -> None:
    request = _submit(store)
    with pytest.raises(ConfigError, match="is pending, not awaiting approval"):
        store.approve(request.id, "alice")
    with pytest.raises(ConfigError, match="unknown request"):
        store.reject("missing", "alice", "no")
    store.transition(request.id, AWAITING_APPROVAL, expected_from=PENDING)
    with pytest.raises(ConfigError, match="by"):
        store.approve(request.id, " ")
    store.approve(request.id, "alice")
    with pytest.raises(ConfigError, match="is approved"):
        store.approve(request.id, "bob")
    assert store.get(request.id).approved_by == "alice"


def test_list_filters_states_and_counts(store: RequestStore) -> None:
    a, b, c = _submit(store), _submit(store), _submit(store)
    store.mark_launched(b.id)
    assert [r.id for r in store.list()] == [a.id, b.id, c.id]
    assert [r.id for r in store.list(states=[PENDING])] == [a.id, c.id]
    assert [r.id for r in store.list(limit=1)] == [a.id]
    assert store.counts()[PENDING] == 2 and store.counts()[LAUNCHED] == 1
    with pytest.raises(ConfigError, match="unknown state"):
        store.list(states=["done"])


# --- apply: many compare-and-sets in one transaction -----------------------------------------


def _audit(store: RequestStore, request_id: str | None = None) -> list[tuple]:
    return [(e.request_id, e.status, e.actor, e.reasons) for e in AuditLog(store.location).entries(request_id)]


def test_apply_mixed_winners_and_losers_in_order(store: RequestStore) -> None:
    a, b, c, d = (_submit(store) for _ in range(4))
    assert store.transition(b.id, AWAITING_APPROVAL, expected_from=PENDING)
    b_before = store.get(b.id)
    waiting = {"status": "waiting", "reasons": ["manager is at capacity"], "rule": "r1"}
    results = store.apply([
        Change(a.id, (PENDING,), LAUNCHED, {"reasons": ["allowed"], "rule": "r1"}, "gate", increment_attempts=True),
        Change(b.id, (PENDING,), LAUNCHED, {"reasons": ["allowed"]}, "gate"),  # b moved on: loses
        Change(c.id, (PENDING,), None, waiting, "gate"),  # keeps waiting; the new decision is recorded
        Change("no-such-request", (PENDING,), DENIED, {"reasons": ["gone"]}),
        Change(d.id, PENDING, DENIED, {"reasons": ["no rule"]}),  # one state may be given bare
        Change(d.id, (PENDING,), LAUNCHED, {"reasons": ["too late"]}),  # runs after d's denial: loses
        Change(a.id, (LAUNCHED,), RUNNING, fields={"run_id": "run-1"}),  # sees a's launch above
    ])  # fmt: skip
    assert results == [True, False, True, False, True, False, True]
    got = {r.id: r for r in store.list()}
    assert (got[a.id].state, got[a.id].attempts, got[a.id].run_id) == (RUNNING, 1, "run-1")
    assert got[a.id].decision == {"status": LAUNCHED, "reasons": ["allowed"], "rule": "r1"}
    assert got[b.id] == b_before and (got[b.id].state, got[b.id].attempts) == (AWAITING_APPROVAL, 0)
    assert (got[c.id].state, got[c.id].decision, got[c.id].state_changed_at) == (PENDING, waiting, c.state_changed_at)
    assert (got[d.id].state, got[d.id].decision["reasons"]) == (DENIED, ["no rule"])
    assert store.counts() == {**dict.fromkeys(STATES, 0), RUNNING: 1, AWAITING_APPROVAL: 1, PENDING: 1, DENIED: 1}
    assert _audit(store) == [
        (a.id, LAUNCHED, "gate", ["allowed"]),
        (c.id, "waiting", "gate", ["manager is at capacity"]),
        (d.id, DENIED, "policy", ["no rule"]),
    ]


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (lambda rid: Change(rid, (PENDING,), RUNNING), "illegal transition pending -> running"),
        (lambda rid: Change(rid, ("bogus",), None, {"status": "x"}), "unknown state"),
        (lambda rid: Change(rid, (), LAUNCHED), "needs at least one expected state"),
        (lambda rid: Change(rid, (PENDING,), None), "keeping the state needs a decision"),
        (lambda rid: Change(rid, (PENDING,), None, {"reasons": ["x"]}), "needs a status when the state is kept"),
        (lambda rid: Change(rid, (PENDING,), LAUNCHED, fields={"target": "x"}), "cannot set"),
        (lambda rid: Change(rid, (PENDING,), LAUNCHED, {"reasons": []}, actor=" "), "actor"),
        (lambda rid: Change(rid, (PENDING,), None, {"status": "x", "alternatives": [{"agent_id": "a"}]}),
         "decision.alternatives"),
    ],
)
def test_apply_checks_every_change_before_writing_anything(store: RequestStore, bad, needle) -> None:
    good, other = _submit(store), _submit(store)
    with pytest.raises(ConfigError) as err:
        store.apply([Change(good.id, (PENDING,), LAUNCHED, {"reasons": ["ok"]}), bad(other.id)])
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert store.get(good.id) == good and store.get(other.id) == other
    assert _audit(store) == []


def test_apply_nothing_and_unknown_requests(store: RequestStore) -> None:
    assert store.apply([]) == []
    assert store.apply([Change("missing", (PENDING,), LAUNCHED, {"reasons": ["ok"]})]) == [False]
    # The single-change wrappers still tell an unknown request from a lost race.
    with pytest.raises(ConfigError, match="unknown request"):
        store.mark_launched("missing")
    assert _audit(store) == []


def test_apply_ten_thousand_changes_in_one_call(store: RequestStore) -> None:
    requests = [_submit(store) for _ in range(1000)]
    keep = {"status": "waiting", "reasons": ["target at capacity"], "rule": "r"}
    changes = []
    for r in requests:
        changes += [
            Change(r.id, (PENDING,), AWAITING_APPROVAL, {"reasons": ["needs sign-off"], "rule": "r"}),
            *(Change(r.id, (AWAITING_APPROVAL,), None, keep, "gate") for _ in range(6)),
            Change(r.id, (AWAITING_APPROVAL,), APPROVED, {"reasons": ["ok"]}, "alice", {"approved_by": "alice"}),
            Change(r.id, (APPROVED,), LAUNCHED, {"reasons": ["allowed"]}, "gate", increment_attempts=True),
            Change(r.id, (PENDING,), DENIED, {"reasons": ["stale tick"]}),  # the state moved on: loses
        ]
    assert len(changes) == 10_000
    assert store.apply(changes) == ([True] * 9 + [False]) * 1000
    assert store.counts() == {**dict.fromkeys(STATES, 0), LAUNCHED: 1000}
    assert {(r.state, r.attempts, r.approved_by) for r in store.list(limit=2000)} == {(LAUNCHED, 1, "alice")}
    assert len(AuditLog(store.location).entries()) == 9000
    assert [(status, actor) for _, status, actor, _ in _audit(store, requests[500].id)] == [
        (AWAITING_APPROVAL, "policy"), *[("waiting", "gate")] * 6, (APPROVED, "alice"), (LAUNCHED, "gate"),
    ]


# --- decisions ---------------------------------------------------------------------------------


def test_policy_decisions_keep_escalation_path_and_alternatives(store: RequestStore) -> None:
    decision = Decision("awaiting_approval", 3, "manager->coordinator", ("needs approval",),
                        escalation_path=("architect", "cto"),
                        alternatives=(Alternative("analyst_2", 0.8, 2), Alternative("analyst_3", 0.0, 1)))  # fmt: skip
    first, second = _submit(store), _submit(store)
    assert store.transition(first.id, AWAITING_APPROVAL, expected_from=PENDING, decision=decision)
    assert store.get(first.id).decision == {
        "status": "awaiting_approval",
        "reasons": ["needs approval"],
        "rule": "3",
        "escalation_path": ["architect", "cto"],
        "alternatives": [{"agent_id": "analyst_2", "match": 0.8, "spare": 2},
                         {"agent_id": "analyst_3", "match": 0.0, "spare": 1}],
    }  # fmt: skip
    mapping = {"status": "escalated", "reasons": ["no rule"], "rule": None, "escalation_path": ["architect"],
               "alternatives": [{"agent_id": "analyst_2", "match": 1, "spare": "3"}]}  # fmt: skip
    assert store.transition(second.id, ESCALATED, expected_from=PENDING, decision=mapping)
    assert store.get(second.id).decision == {**mapping, "alternatives": [{"agent_id": "analyst_2", "match": 1.0,
                                                                            "spare": 3}]}  # fmt: skip
    assert [(status, reasons) for _, status, _, reasons in _audit(store)] == [
        ("awaiting_approval", ["needs approval"]), ("escalated", ["no rule"]),
    ]


# --- idempotent submits ------------------------------------------------------------------------


def test_submit_with_an_origin_key_stores_it_once(store: RequestStore) -> None:
    key = "schedule:etl_daily:2026-03-01T00:00"
    first = _submit(store, origin_key=key, priority="high")
    again = _submit(store, origin_key=key, priority="low", requester="someone_else")
    assert again == first and (again.origin_key, again.priority, again.requester) == (key, Priority.HIGH, "architect")
    # Still the same request once it has moved on: a retried tick does not launch the work twice.
    assert store.mark_launched(first.id)
    assert (_submit(store, origin_key=key).id, _submit(store, origin_key=key).state) == (first.id, LAUNCHED)
    next_tick = _submit(store, origin_key="schedule:etl_daily:2026-03-02T00:00")
    unkeyed = [_submit(store), _submit(store)]  # no key: never merged
    assert [r.id for r in store.list()] == [first.id, next_tick.id, *(r.id for r in unkeyed)]
    assert [r.origin_key for r in unkeyed] == [None, None]
    with pytest.raises(ConfigError, match="origin_key"):
        _submit(store, origin_key=" ")
    assert len(store.list()) == 4


def test_two_threads_submitting_the_same_origin_keys_store_each_once(store: RequestStore) -> None:
    keys = [f"tick-{n}" for n in range(25)]
    ids: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def tick(name: str) -> None:
        barrier.wait()
        try:
            ids[name].extend(_submit(store, origin_key=key).id for key in keys)
        except BaseException as e:  # surfaced below: a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=tick, args=(name,)) for name in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ids["a"] == ids["b"] and len(set(ids["a"])) == 25
    stored = store.list(limit=100)
    assert len(stored) == 25 and sorted(r.origin_key for r in stored) == sorted(keys)


# --- reassignment ------------------------------------------------------------------------------


def test_reassign_is_a_compare_and_set_on_the_target(store: RequestStore) -> None:
    request = _submit(store, target="manager")
    waiting = {"status": "waiting", "reasons": ["manager at capacity"], "rule": "r1",
               "alternatives": [{"agent_id": "analyst_2", "match": 0.5, "spare": 2}]}  # fmt: skip
    assert store.apply([Change(request.id, (PENDING,), None, waiting, "gate")]) == [True]
    before = store.get(request.id)
    assert store.reassign(request.id, "analyst_2", by="gate", reason="manager at capacity; analyst_2 has room")
    moved = store.get(request.id)
    assert (moved.target, moved.state, moved.decision) == ("analyst_2", PENDING, waiting)
    assert moved.state_changed_at == before.state_changed_at
    entry = AuditLog(store.location).entries(request.id)[-1]
    assert (entry.status, entry.actor, entry.reasons, entry.rule) == (
        "reassigned", "gate", ["manager at capacity; analyst_2 has room"], None,
    )
    # Launched meanwhile: a stale reassignment loses and writes nothing.
    assert store.mark_launched(request.id)
    assert not store.reassign(request.id, "manager", by="gate", reason="back again")
    assert store.get(request.id).target == "analyst_2"
    assert [status for _, status, _, _ in _audit(store, request.id)] == ["waiting", "reassigned"]


def test_reassign_states_and_bad_input(store: RequestStore) -> None:
    request = _submit(store)
    hostile = "x'; DROP TABLE delegation_requests; --"
    assert store.reassign(request.id, hostile, by="alice", reason="r")
    assert store.get(request.id).target == hostile
    for kwargs, needle in [
        ({"expected_from": (APPROVED,)}, "cannot reassign a approved request"),
        ({"expected_from": (LAUNCHED,)}, "cannot reassign a launched request"),
        ({"expected_from": ("bogus",)}, "unknown state"),
        ({"expected_from": ()}, "needs at least one expected state"),
        ({"reason": " "}, "reason"),
        ({"by": ""}, "by"),
        ({"new_target": ""}, "new_target"),
        ({"request_id": "missing"}, "unknown request"),
    ]:
        args = {"request_id": request.id, "new_target": "analyst_3", "by": "alice", "reason": "r",
                "expected_from": (PENDING,), **kwargs}  # fmt: skip
        with pytest.raises(ConfigError, match=needle):
            store.reassign(args.pop("request_id"), args.pop("new_target"), **args)
    assert store.get(request.id).target == hostile
    # An approval was given for a named target: approved work is never reassigned.
    _drive(store, request.id, APPROVED)
    assert not store.reassign(request.id, "analyst_2", by="alice", reason="r")
    assert store.get(request.id).target == hostile
    assert [status for _, status, _, _ in _audit(store, request.id)][0] == "reassigned"


# --- workload ----------------------------------------------------------------------------------


def test_workload_counts_requests_per_target_in_one_query(store: RequestStore) -> None:
    sizes = {"manager": 4, "analyst": 3, "auditor": 1}
    made = {target: [_submit(store, target=target) for _ in range(n)] for target, n in sizes.items()}
    for request in made["manager"][:3] + made["analyst"][:1]:
        assert store.mark_launched(request.id)
    assert store.transition(made["manager"][0].id, RUNNING, expected_from=LAUNCHED)
    assert store.transition(made["manager"][1].id, SUCCEEDED, expected_from=LAUNCHED)
    assert store.workload() == {"manager": 2, "analyst": 1}
    assert store.workload([PENDING]) == {"manager": 1, "analyst": 2, "auditor": 1}
    assert store.workload((SUCCEEDED, RUNNING)) == {"manager": 2}
    assert store.workload(()) == {}
    with pytest.raises(ConfigError, match="unknown state"):
        store.workload(["busy"])


# --- concurrency ---------------------------------------------------------------------------


def test_compare_and_set_two_threads_only_one_wins(store: RequestStore) -> None:
    ids = [_submit(store).id for _ in range(60)]
    wins: dict[str, list[str]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def tick(name: str) -> None:
        barrier.wait()
        for request_id in ids:
            if store.mark_launched(request_id, actor=name, decision={"reasons": ["ok"], "rule": "r"}):
                wins[name].append(request_id)

    threads = [threading.Thread(target=tick, args=(name,)) for name in wins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(wins["a"]) & set(wins["b"])
    assert sorted(wins["a"] + wins["b"]) == sorted(ids)
    assert {store.get(i).attempts for i in ids} == {1}
    assert len(AuditLog(store.location).entries()) == len(ids)


def _process_tick(location: str, ids: list[str], start: float) -> list[str]:
    """One competing sensor process: launch whatever it can."""
    import time

    while time.time() < start:  # line both processes up
        time.sleep(0.001)
    mine = RequestStore(location)
    return [i for i in ids if mine.mark_launched(i, f"run-{os.getpid()}")]


def test_compare_and_set_two_processes_only_one_wins(store: RequestStore) -> None:
    import time

    ids = [_submit(store).id for _ in range(150)]
    start = time.time() + 1.0
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_process_tick, str(store.location), ids, start) for _ in range(2)]
        first, second = (f.result(timeout=120) for f in futures)
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(ids)
    assert {store.get(i).attempts for i in ids} == {1}
    assert {store.get(i).state for i in ids} == {LAUNCHED}


# --- batches ---------------------------------------------------------------------------------


def _stepping_clock():
    """A clock that advances every other call, so some requests share a timestamp."""
    state = {"n": 0}
    base = datetime(2026, 1, 1, tzinfo=UTC)

    def now() -> datetime:
        state["n"] += 1
        return base + timedelta(microseconds=state["n"] // 2)

    return now


def test_batches_with_cursor_cover_1000_requests_in_priority_order(location: Path | str) -> None:
    store = RequestStore(location, clock=_stepping_clock())
    rng = random.Random(5)
    made = [_submit(store, priority=rng.choice(list(Priority))) for _ in range(1000)]
    expected = sorted(made, key=lambda r: (-r.priority, r.created_at, r.id))
    seen, cursor, batches = [], None, 0
    while True:
        batch, cursor = store.pending_batch(128, after=cursor)
        seen.extend(batch)
        batches += 1
        assert len(batch) <= 128
        if cursor is None:
            break
    assert [r.id for r in seen] == [r.id for r in expected]
    assert batches == 8 and len({r.id for r in seen}) == 1000
    assert seen[0].priority is Priority.EMERGENCY and seen[-1].priority is Priority.LOW


def test_cursor_survives_launches_between_ticks_and_wraps(location: Path | str) -> None:
    store = RequestStore(location, clock=_stepping_clock())
    made = [_submit(store, priority=p) for p in [1, 5, 3, 3, 2, 5, 4, 1, 2, 4]]
    first, cursor = store.pending_batch(4)
    for request in first:  # the tick launches what it evaluated
        assert store.mark_launched(request.id)
    second, cursor = store.pending_batch(4, after=cursor)
    third, cursor = store.pending_batch(4, after=cursor)
    assert cursor is None and len(third) == 2
    order = sorted(made, key=lambda r: (-r.priority, r.created_at, r.id))
    assert [r.id for r in first + second + third] == [r.id for r in order]
    # After wrapping, the next tick starts from the top of what is still pending.
    again, _ = store.pending_batch(100)
    assert [r.id for r in again] == [r.id for r in order[4:]]


def test_pending_batch_actionable_states_and_bad_arguments(store: RequestStore) -> None:
    low, high = _submit(store, priority="low"), _submit(store, priority="high")
    _drive(store, low.id, APPROVED)
    assert [r.id for r in store.pending_batch(10)[0]] == [high.id]
    assert [r.id for r in store.pending_batch(10, states=ACTIONABLE)[0]] == [high.id, low.id]
    with pytest.raises(ConfigError, match="cursor"):
        store.pending_batch(10, after="not json")
    with pytest.raises(ConfigError, match="limit"):
        store.pending_batch(0)


# --- crashes ---------------------------------------------------------------------------------


def test_exception_inside_transaction_leaves_request_unchanged(store, monkeypatch) -> None:
    request = _submit(store)

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    # The UPDATE has run when the audit insert fails: both must roll back together.
    monkeypatch.setattr(audit_module, "insert_entries", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        store.mark_launched(request.id, decision={"reasons": ["ok"], "rule": "r"})
    assert store.get(request.id) == request
    assert AuditLog(store.location).entries() == []
    monkeypatch.undo()
    assert store.mark_launched(request.id, decision={"reasons": ["ok"], "rule": "r"})


def test_raise_inside_store_transaction_rolls_back(store: RequestStore) -> None:
    request = _submit(store)
    with pytest.raises(KeyError), store._transaction() as con:
        con.execute("UPDATE delegation_requests SET state = 'launched' WHERE id = ?", (request.id,))
        raise KeyError("crash")
    assert store.get(request.id) == request


def _die_mid_transaction(location: str, request_id: str) -> None:
    dying = RequestStore(location)
    with dying._transaction() as con:
        con.execute("UPDATE delegation_requests SET state = 'launched', attempts = 7 WHERE id = ?", (request_id,))
        os._exit(1)  # the process dies without commit or rollback


def test_process_killed_mid_transaction_leaves_request_pending(store: RequestStore) -> None:
    request = _submit(store)
    spawn = multiprocessing.get_context("spawn")
    process = spawn.Process(target=_die_mid_transaction, args=(str(store.location), request.id))
    process.start()
    process.join(60)
    assert process.exitcode == 1
    assert store.get(request.id) == request
    assert store.mark_launched(request.id)  # the lock died with the process


def test_no_delete_api(store: RequestStore) -> None:
    assert not [name for name in dir(store) if "delete" in name or "remove" in name or "purge" in name]
