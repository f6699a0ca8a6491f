"""One tick of the delegation gate: reconcile the ledger, then judge the queue in batches.

Free of Dagster: the sensor passes a `RunLookup` over its instance and turns the
returned launches into `RunRequest`s with `run_key` = request id. Crash safety
(the architecture's invariant 2) comes from the order of effects: a request
becomes `launched` in the store (compare-and-set, with its audit entry) before
its run request is returned, and a `launched` request whose run the instance
does not know is returned again on the next tick. The run key makes that
repeat harmless when the first run did get created.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .policy import Decision, DelegationRequest, evaluate
from .service import Delegation, approval_of, trusted_facts
from .targets import touched_classifications
from .store import (
    APPROVED, AWAITING_APPROVAL, DENIED, ESCALATED, FAILED, LAUNCHED, PENDING, RUNNING, SUCCEEDED, Change,
    Priority, Request,
)

# Dagster run statuses as plain strings, so this module stays free of Dagster.
RUN_STARTED = frozenset({"STARTING", "STARTED", "CANCELING"})
RUN_SUCCEEDED = frozenset({"SUCCESS"})
RUN_FAILED = frozenset({"FAILURE", "CANCELED"})


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str  # a DagsterRunStatus value
    run_key: str | None = None  # the dagster/run_key tag, set on runs a sensor created


# request ids -> the runs the instance holds tagged with each (absent when none)
RunLookup = Callable[[Sequence[str]], Mapping[str, Sequence[RunInfo]]]


@dataclass(frozen=True)
class Launch:
    """A request the gate launched (or re-launches): its run request's fields."""

    request: Request
    job_name: str
    tags: dict[str, str]
    relaunch: bool = False


@dataclass
class TickOutcome:
    launches: list[Launch] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    cursor: str | None = None
    evaluated: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def summary(self) -> str:
        parts = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items())) or "nothing to do"
        return f"evaluated {self.evaluated}: {parts}"


def run_tags(request: Request, decision: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags that show in the UI who asked whom, for what, under which rule."""
    decision = decision or {}
    tags = {
        "datacrew/request": request.id,
        "datacrew/requester": request.requester,
        "datacrew/agent": request.target,
        "datacrew/task_type": request.task_type,
        "datacrew/priority": Priority(request.priority).name.lower(),
        "datacrew/rule": decision.get("rule") or ("approved by " + (request.approved_by or "?")),
    }
    if request.origin_key:
        tags["datacrew/origin"] = request.origin_key[:200]
    return tags


def _decision_record(decision: Decision) -> dict[str, Any]:
    return {
        "status": decision.status,
        "reasons": list(decision.reasons),
        "rule": decision.rule_description or None,
        "escalation_path": list(decision.escalation_path),
        "alternatives": [{"agent_id": a.agent_id, "match": a.match, "spare": a.spare} for a in decision.alternatives],
    }


# Where each policy outcome moves a request; None keeps it queued.
_NEXT_STATE = {"allowed": LAUNCHED, "awaiting_approval": AWAITING_APPROVAL, "escalated": ESCALATED,
               "denied": DENIED, "deferred": None}


def _next_state(request: Request, status: str) -> str | None:
    to = _NEXT_STATE[status]
    # Approved work that no longer passes cannot go back to a person: it is denied.
    if request.state == APPROVED and to in (AWAITING_APPROVAL, ESCALATED):
        return DENIED
    return to


# Re-launches of one request before it is failed: each follows a tick that died between
# marking it launched and the run reaching the instance, which should be rare.
MAX_LAUNCH_ATTEMPTS = 3


def _bound_run(request: Request, runs: Sequence[RunInfo]) -> RunInfo | None:
    """The request's run: the one bound to it (by the run that claimed it), else the run
    Dagster created for its run key, else none. Other runs carrying its tag are ignored."""
    if request.run_id is not None:
        return next((r for r in runs if r.run_id == request.run_id), None)
    return next((r for r in runs if r.run_key == request.id), None)


def _relaunch(delegation: Delegation, request: Request, jobs: frozenset[str] | None,
              outcome: TickOutcome) -> Change:
    """Ask again for a launched request's run, or fail it when that cannot work."""
    target = delegation.targets.get(request.task_type)
    rule = (request.decision or {}).get("rule")
    problem = None
    if target is None:
        problem = f"task type {request.task_type!r} is no longer configured"
    elif jobs is not None and target.job_name not in jobs:
        problem = f"job {target.job_name} is not loaded in this code location"
    elif request.attempts >= MAX_LAUNCH_ATTEMPTS:
        problem = f"no run appeared after {request.attempts} launches"
    if problem:
        outcome.log.append(f"{request.id}: failed ({problem})")
        outcome.count("failed")
        return Change(request.id, (LAUNCHED,), FAILED, actor="ledger", expect_no_run=True,
                      decision={"status": FAILED, "reasons": [problem], "rule": rule})
    outcome.launches.append(Launch(request, target.job_name, run_tags(request, request.decision), relaunch=True))
    outcome.log.append(f"{request.id}: launched but no run found; run request repeated")
    outcome.count("relaunched")
    return Change(request.id, (LAUNCHED,), None, actor="ledger", increment_attempts=True, expect_no_run=True,
                  decision={"status": LAUNCHED, "reasons": ["no run found; run request repeated"], "rule": rule})


def reconcile(delegation: Delegation, runs: RunLookup, outcome: TickOutcome,
              jobs: frozenset[str] | None = None) -> None:
    """Move launched/running requests to what the instance says; ask again for launched ones
    without a run; fail running ones whose run has vanished, so no capacity stays taken."""
    store = delegation.store
    in_flight = store.list(states=(LAUNCHED, RUNNING), limit=1_000_000)
    if not in_flight:
        return
    found = runs([r.id for r in in_flight])
    changes: list[Change] = []
    relaunched: list[Change] = []  # logged by _relaunch already
    for request in in_flight:
        run = _bound_run(request, found.get(request.id, ()))
        if run is None:
            if request.state == LAUNCHED:
                relaunched.append(_relaunch(delegation, request, jobs, outcome))
            else:
                reason = f"run {request.run_id} is no longer in the instance"
                changes.append(Change(request.id, (RUNNING,), FAILED, actor="ledger",
                                      decision={"status": FAILED, "reasons": [reason], "rule": None}))
            continue
        to = (SUCCEEDED if run.status in RUN_SUCCEEDED else FAILED if run.status in RUN_FAILED
              else RUNNING if run.status in RUN_STARTED and request.state == LAUNCHED else None)
        if to is None:
            continue
        reason = f"run {run.run_id} is {run.status}"
        changes.append(Change(request.id, (request.state,), to, fields={"run_id": run.run_id},
                              decision={"status": to, "reasons": [reason], "rule": None}, actor="ledger"))
    store.apply(relaunched)
    for change, won in zip(changes, store.apply(changes)):
        if won:
            outcome.log.append(f"{change.request_id}: {change.to_state} ({change.decision['reasons'][0]})")
            outcome.count(change.to_state)


def _judge(delegation: Delegation, request: Request, workload: dict[str, int]) -> Decision:
    # Governance judges the data as the loaded config and catalog classify it, not as it was
    # classified when the request was submitted.
    target = delegation.targets.get(request.task_type)
    touched = touched_classifications(target, delegation.classified) if target else request.classifications
    return evaluate(
        DelegationRequest(request.requester, request.target, delegation.judged_as(request.task_type),
                          trusted_facts(request), request.resources, tuple(touched)),
        roster=delegation.roster, rules=delegation.rules, workload=workload, approval=approval_of(request),
    )


def _decide_batch(delegation: Delegation, batch: list[Request], workload: dict[str, int],
                  room: int, outcome: TickOutcome, jobs: frozenset[str] | None) -> Request | None:
    """Judge a batch in queue order, store every change in one transaction, collect launches.

    Returns the last request judged; judging stops once `room` launches are taken.
    """
    changes: list[tuple[Change, Request, Decision]] = []
    last = None
    for request in batch:
        if room <= 0:
            break
        last = request
        outcome.evaluated += 1
        decision = _judge(delegation, request, workload)
        to = _next_state(request, decision.status)
        previous = (request.decision or {}).get("status")
        # Still waiting for capacity: nothing new to record. An approved request keeps its
        # approval on record (the gate reads it back), so its waits are only logged.
        if to is None and (previous == decision.status or request.state == APPROVED):
            continue
        if decision.status == "allowed" and to == LAUNCHED:
            target = delegation.targets.get(request.task_type)
            if target is None:
                decision = Decision("denied", decision.rule, decision.rule_description,
                                    (*decision.reasons, f"task type {request.task_type!r} is no longer configured"))
                to = DENIED
            elif jobs is not None and target.job_name not in jobs:
                # Config changed but the code location was not reloaded: wait for the reload.
                outcome.log.append(f"{request.id}: waits; job {target.job_name} is not loaded in this code location")
                outcome.count("waiting for reload")
                continue
            else:
                workload[request.target] = workload.get(request.target, 0) + 1
                room -= 1
        if to == DENIED and decision.status != "denied":
            decision = Decision("denied", decision.rule, decision.rule_description,
                                (*decision.reasons, "approved work no longer passes: denied"))
        record = _decision_record(decision)
        # The target judged is compared too: a reassignment in between makes this change lose.
        changes.append((Change(request.id, (request.state,), to, decision=record, actor="gate",
                               increment_attempts=to == LAUNCHED, expected_target=request.target),
                        request, decision))
    results = delegation.store.apply([c for c, _, _ in changes])
    for (change, request, decision), won in zip(changes, results):
        if not won:
            if change.to_state == LAUNCHED:
                workload[request.target] -= 1
            outcome.count("lost race")
            continue
        outcome.count(decision.status)
        outcome.log.append(f"{request.id} {request.requester} -> {request.target} {request.task_type}: "
                           f"{decision.status} ({decision.reasons[-1] if decision.reasons else ''})")
        if change.to_state == LAUNCHED:
            job = delegation.targets[request.task_type].job_name
            outcome.launches.append(Launch(request, job, run_tags(request, change.decision)))
    return last


def gate_tick(delegation: Delegation, *, cursor: str | None, runs: RunLookup,
              jobs: frozenset[str] | None = None) -> TickOutcome:
    """Reconcile, then judge pending and approved requests from `cursor` on, in priority order.

    `jobs` are the job names the sensor may launch (None: any); work for another job waits.

    Stops after `gate.max_runs_per_tick` launches (the cursor then points after the last
    request judged) or when the queue is exhausted (the cursor is None: the next tick starts
    from the top, where new high-priority requests wait).
    """
    settings = delegation.config.gate
    outcome = TickOutcome()
    reconcile(delegation, runs, outcome, jobs)
    workload = delegation.workload()
    position = cursor or None
    while True:
        room = settings.max_runs_per_tick - len(outcome.launches)
        if room <= 0:
            outcome.cursor = position
            return outcome
        batch, next_position = delegation.store.pending_batch(settings.batch_size, position,
                                                              states=(PENDING, APPROVED))
        last = _decide_batch(delegation, batch, workload, room, outcome, jobs)
        if last is not None and last is not batch[-1]:
            outcome.cursor = last.cursor
            return outcome
        if next_position is None:
            outcome.cursor = None
            return outcome
        position = next_position
