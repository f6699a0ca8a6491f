"""`datacrew optimize`: pending requests as optimiser tasks, both plans, and reassignment.

An agent is eligible for a request when the policy, asked about that agent as the
target, would not refuse it (allowed, awaiting approval, or only short of capacity,
which the solver accounts for). Reassignment touches only pending requests: an
approval was given for a named target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .optimizer import AgentLoad, Plan, Task, compare, greedy, optimize
from .policy import DelegationRequest, evaluate
from .service import Delegation
from .store import PENDING, Request

ELIGIBLE = frozenset({"allowed", "awaiting_approval", "deferred"})
OPTIMIZER = "optimizer"


@dataclass(frozen=True)
class Optimization:
    requests: dict[str, Request]
    optimal: Plan
    baseline: Plan

    def moves(self) -> dict[str, tuple[str, str]]:
        """Request id -> (current target, proposed target) where the optimum differs."""
        return {rid: (self.requests[rid].target, agent) for rid, agent in self.optimal.assignments.items()
                if self.requests[rid].target != agent}

    def report(self) -> dict[str, Any]:
        return {"pending": len(self.requests), "comparison": compare(self.optimal, self.baseline),
                "optimal": self.optimal.to_dict(), "greedy": self.baseline.to_dict(),
                "moves": {rid: {"from": a, "to": b} for rid, (a, b) in sorted(self.moves().items())}}


def _eligible(delegation: Delegation, request: Request, workload: dict[str, int]) -> frozenset[str]:
    found = set()
    for agent_id in delegation.roster:
        asked = DelegationRequest(request.requester, agent_id, delegation.judged_as(request.task_type), request.facts,
                                  request.resources, tuple(request.classifications))
        if evaluate(asked, roster=delegation.roster, rules=delegation.rules, workload=workload).status in ELIGIBLE:
            found.add(agent_id)
    return frozenset(found)


def plan_pending(delegation: Delegation, limit: int = 10_000) -> Optimization:
    """Both plans for up to `limit` pending requests in queue order."""
    requests, _ = delegation.store.pending_batch(limit, None, states=(PENDING,))
    workload = delegation.workload()
    # Requests that differ only in id share their eligibility: evaluate each shape once.
    shapes: dict[str, frozenset[str]] = {}
    tasks = []
    for request in requests:
        shape = json.dumps([request.requester, request.task_type, request.facts, request.resources,
                            request.classifications], sort_keys=True)
        if shape not in shapes:
            shapes[shape] = _eligible(delegation, request, workload)
        tasks.append(Task(request.id, delegation.judged_as(request.task_type), int(request.priority), shapes[shape]))
    agents = [AgentLoad.of(agent, workload.get(agent.id, 0)) for agent in delegation.roster.values()]
    return Optimization({r.id: r for r in requests}, optimize(tasks, agents), greedy(tasks, agents))


def apply_moves(delegation: Delegation, optimization: Optimization) -> int:
    """Retarget pending requests to the optimal plan's agents; returns how many moved."""
    moved = 0
    for request_id, (current, proposed) in sorted(optimization.moves().items()):
        reason = f"optimizer: {current} -> {proposed} (best specialisation match within capacity)"
        moved += delegation.store.reassign(request_id, proposed, by=OPTIMIZER, reason=reason)
    return moved
