"""Assign pending delegation tasks to agents: an exact solver and the greedy baseline.

Pure: no Dagster, no database. The caller decides which agents the policy allows for each
task (`Task.eligible`) and how much room each agent has (`AgentLoad.spare`).

Objective, lexicographic (`Plan.objective`):

1. assigned tasks per priority, from EMERGENCY (5) down: a higher-priority task is never left
   unassigned so that a lower-priority one can be assigned;
2. then the total specialisation match: the sum, over assignments, of the agent's bonus for the
   task's type (0 when it has none; an eligible agent without the specialisation may still take
   the task).

Solver. `scipy.optimize.linear_sum_assignment` (compiled shortest augmenting path) over the
agents expanded into one row per free slot. A min-cost flow over agents would avoid the
expansion, but scipy has none and a pure-Python one is slower than expanding a few hundred
slots; the expansion is bounded by the reduction below.

Why one weighted assignment is exactly the lexicographic optimum. Pairs get the integer weight
`W * priority + m`, where `m` is the bonus in integer units of 10**-d (`Plan.match_decimals`,
the decimals the bonuses are written with, at most 6) and ineligible pairs weight 0, so a
maximum-weight assignment is a maximum-weight matching. With N = min(tasks, slots) and every
`m` in [lo, hi] (lo <= 0 <= hi), `W = N * (hi - lo) + 1` exceeds any difference in total match,
so an optimal plan's task set S maximises the sum of priorities over the sets of tasks that can be
assigned together. Those sets are the independent sets of a transversal matroid, and in a
matroid a maximum-weight independent set B holds, for every threshold p, as many elements of
weight >= p as any independent set can (otherwise exchange a lighter element of B for a heavier
one and gain). So S assigns the most EMERGENCY tasks possible, then the most of priority >= 4,
and so on: per-priority counts that are lexicographically maximal, and every plan with those
counts has the same priority sum. Among them the weight differs only by the match, which the
solver maximises. Priority weights therefore need not dominate each other (W**5 would overflow
float64 at a few hundred slots); one W suffices.

Exact in float64. The solver works in doubles. With an extra all-zero column (so a free column
always remains), its potentials stay within [-R, R] and every value it forms within 4R, R the
largest weight (dual feasibility against the free column bounds the row potentials by R, matched
columns then by -R). `_decimals` keeps 8R <= 2**53, lowering `d` if it must, so every
value is an integer computed exactly and the result is the true integer optimum. Realistic
bonuses (1.2, 0.85) never need lowering; a bonus with more than 6 decimals is rounded to 6.

Candidate restriction (10,000 tasks x a few hundred slots). At most K = total slots tasks are
assigned. For each agent keep only its K heaviest eligible tasks (priority, then its bonus): if an
optimal plan gives agent a a task outside that list, at most K - 1 tasks of the list are
assigned, so one is free and weighs at least as much; swapping it in loses nothing. So some
optimal plan uses only listed tasks, and the union of the lists is a sound candidate set.
Keeping the top K tasks by priority overall would not be sound: those tasks may be eligible
only for a few agents, while lower-priority ones could fill the other agents' slots; the cut
is sound per agent, where the tasks compete for the same slots. An agent's rows are capped
at the number of candidates it may take.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.platform import AgentConfig

PRIORITIES = (5, 4, 3, 2, 1)
MAX_DECIMALS = 6
_EXACT = 2**53


@dataclass(frozen=True)
class Task:
    """A pending task; `eligible` are the agent ids the policy allows for it."""

    id: str
    task_type: str
    priority: int
    eligible: frozenset[str]


@dataclass(frozen=True)
class AgentLoad:
    """An agent's room for more work: `spare` = capacity - current tasks."""

    agent_id: str
    spare: int
    specializations: Mapping[str, float] = field(default_factory=dict, hash=False)

    @classmethod
    def of(cls, agent: AgentConfig, current_tasks: int = 0) -> AgentLoad:
        """An agent's load from its config; an overloaded agent has no spare."""
        return cls(agent.id, max(agent.capacity - current_tasks, 0), dict(agent.specializations))


@dataclass(frozen=True)
class Plan:
    """Who does what. Orders: tasks by priority (highest first) then id; agents by id.

    `match_units` is the exact total match in units of 10**-match_decimals; `total_match` is
    that number as a float."""

    method: str
    assignments: Mapping[str, str]
    unassigned: tuple[str, ...]
    total_match: float
    match_units: int
    match_decimals: int
    assigned_by_priority: Mapping[int, int]
    per_agent: Mapping[str, int]

    @property
    def assigned(self) -> int:
        return len(self.assignments)

    @property
    def objective(self) -> tuple[int, ...]:
        """(assigned at priority 5, 4, 3, 2, 1, match units): larger is better, compared as a tuple."""
        return (*(self.assigned_by_priority[p] for p in PRIORITIES), self.match_units)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "assignments": dict(self.assignments),
            "unassigned": list(self.unassigned),
            "total_match": self.total_match,
            "match_decimals": self.match_decimals,
            "assigned": self.assigned,
            "assigned_by_priority": {str(p): n for p, n in self.assigned_by_priority.items()},
            "per_agent": dict(self.per_agent),
        }


@dataclass
class _Problem:
    """Validated input: tasks sorted by (-priority, id), agents by id, bonuses in integer units."""

    tasks: list[Task]
    agents: list[AgentLoad]
    decimals: int
    units: np.ndarray  # agents x task types, int64
    type_of: np.ndarray  # per task, index into the task types
    priority: np.ndarray  # per task
    eligible: np.ndarray  # agents x tasks, bool
    spare: np.ndarray  # per agent
    weight_step: int  # W

    def match_units(self, t: int, a: int) -> int:
        return int(self.units[a, self.type_of[t]])

    def plan(self, method: str, pairs: Mapping[int, int]) -> Plan:
        by_priority = dict.fromkeys(PRIORITIES, 0)
        per_agent = {a.agent_id: 0 for a in self.agents}
        assignments: dict[str, str] = {}
        unassigned: list[str] = []
        units = 0
        for t, task in enumerate(self.tasks):
            a = pairs.get(t)
            if a is None:
                unassigned.append(task.id)
                continue
            agent = self.agents[a].agent_id
            assignments[task.id] = agent
            by_priority[task.priority] += 1
            per_agent[agent] += 1
            units += self.match_units(t, a)
        return Plan(method, assignments, tuple(unassigned), units / 10**self.decimals, units,
                    self.decimals, by_priority, per_agent)


def _digits(bonus: float) -> int:
    exponent = Decimal(repr(float(bonus))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _to_units(bonus: float, decimals: int) -> int:
    return int(Decimal(repr(float(bonus))).scaleb(decimals).to_integral_value(ROUND_HALF_EVEN))


def _decimals(bonuses: Iterable[float], most_assigned: int) -> tuple[int, int]:
    """The decimals d to count match in, and W; the largest d <= 6 (and no more than the bonuses
    use) keeping every value of the solver below 2**53 (see the module docstring)."""
    bonuses = list(bonuses)
    d = min(max((_digits(b) for b in bonuses), default=0), MAX_DECIMALS)
    while True:
        units = [_to_units(b, d) for b in bonuses]
        hi, lo = max([0, *units]), min([0, *units])
        step = most_assigned * (hi - lo) + 1
        if 8 * (max(PRIORITIES) * step + hi) <= _EXACT:
            return d, step
        if d == 0:
            raise ConfigError("too large to optimise exactly in float64 (largest bonus "
                              f"{max(bonuses, key=abs)!r} with {most_assigned} assignable tasks)",
                              field="specializations")
        d -= 1


def _validate(tasks: Sequence[Task], agents: Sequence[AgentLoad]) -> None:
    seen: set[str] = set()
    for i, agent in enumerate(agents):
        where = f"agents[{i}]"
        if agent.agent_id in seen:
            raise ConfigError("duplicate agent id", field=f"{where}.agent_id", value=agent.agent_id)
        seen.add(agent.agent_id)
        if isinstance(agent.spare, bool) or not isinstance(agent.spare, int) or agent.spare < 0:
            raise ConfigError("spare must be an integer >= 0", field=f"{where}.spare", value=agent.spare)
        for task_type, bonus in agent.specializations.items():
            if isinstance(bonus, bool) or not isinstance(bonus, (int, float)) or not math.isfinite(bonus):
                raise ConfigError("bonus must be a finite number",
                                  field=f"{where}.specializations.{task_type}", value=bonus)
    seen_tasks: set[str] = set()
    for i, task in enumerate(tasks):
        where = f"tasks[{i}]"
        if task.id in seen_tasks:
            raise ConfigError("duplicate task id", field=f"{where}.id", value=task.id)
        seen_tasks.add(task.id)
        if isinstance(task.priority, bool) or not isinstance(task.priority, int) or not 1 <= task.priority <= 5:
            raise ConfigError("priority must be an integer from 1 to 5", field=f"{where}.priority",
                              value=task.priority)
        unknown = sorted(set(task.eligible) - seen)
        if unknown:
            raise ConfigError("eligible agent is not among the agents", field=f"{where}.eligible",
                              value=unknown[0])


def _problem(tasks: Iterable[Task], agents: Iterable[AgentLoad]) -> _Problem:
    tasks, agents = list(tasks), list(agents)
    _validate(tasks, agents)
    tasks.sort(key=lambda t: (-t.priority, t.id))
    agents.sort(key=lambda a: a.agent_id)
    types = sorted({t.task_type for t in tasks})
    spare = np.array([a.spare for a in agents], dtype=np.int64)
    most_assigned = min(len(tasks), int(spare.sum()))
    bonuses = [a.specializations.get(kind, 0.0) for a in agents for kind in types]
    decimals, step = _decimals(bonuses, max(most_assigned, 1))
    units = np.array([_to_units(b, decimals) for b in bonuses], dtype=np.int64).reshape(len(agents), len(types))
    type_index = {kind: i for i, kind in enumerate(types)}
    agent_index = {a.agent_id: i for i, a in enumerate(agents)}
    eligible = np.zeros((len(agents), len(tasks)), dtype=bool)
    for t, task in enumerate(tasks):
        for agent_id in task.eligible:
            eligible[agent_index[agent_id], t] = True
    return _Problem(
        tasks, agents, decimals, units,
        np.array([type_index[t.task_type] for t in tasks], dtype=np.int64),
        np.array([t.priority for t in tasks], dtype=np.int64),
        eligible, spare, step,
    )


def _solve(problem: _Problem, *, restrict: bool = True) -> dict[int, int]:
    """The optimal pairs task index -> agent index (module docstring: objective, exactness,
    restriction). `restrict=False` skips the candidate restriction (tests compare both)."""
    slots_total = int(problem.spare.sum())
    if not problem.tasks or slots_total == 0:
        return {}
    weights = problem.weight_step * problem.priority[None, :] + problem.units[:, problem.type_of]
    weights = np.where(problem.eligible & (problem.spare > 0)[:, None], weights, 0)
    if restrict:
        keep = np.zeros(len(problem.tasks), dtype=bool)
        for row in weights:
            cols = np.flatnonzero(row)
            if len(cols) > slots_total:
                cols = cols[np.argsort(-row[cols], kind="stable")[:slots_total]]
            keep[cols] = True
        candidates = np.flatnonzero(keep)
    else:
        candidates = np.arange(len(problem.tasks))
    weights = weights[:, candidates]
    slots = np.minimum(problem.spare, np.count_nonzero(weights, axis=1))
    slot_agent = np.repeat(np.arange(len(problem.agents)), slots)
    if len(slot_agent) == 0 or len(candidates) == 0:
        return {}
    matrix = weights[slot_agent]  # slots x candidates
    transposed = matrix.shape[0] > matrix.shape[1]
    if transposed:
        matrix = matrix.T
    # One more column than rows: a free column always remains (the bound in the docstring).
    matrix = np.hstack([matrix, np.zeros((matrix.shape[0], 1), dtype=np.int64)]).astype(np.float64)
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    pairs: dict[int, int] = {}
    for r, c in zip(rows.tolist(), cols.tolist()):
        if c == matrix.shape[1] - 1 or matrix[r, c] == 0:
            continue
        slot, task = (c, r) if transposed else (r, c)
        pairs[int(candidates[task])] = int(slot_agent[slot])
    return pairs


def optimize(tasks: Iterable[Task], agents: Iterable[AgentLoad]) -> Plan:
    """The lexicographically optimal plan (module docstring). Bad input raises ConfigError."""
    problem = _problem(tasks, agents)
    return problem.plan("optimal", _solve(problem))


def greedy(tasks: Iterable[Task], agents: Iterable[AgentLoad]) -> Plan:
    """The baseline: tasks by priority (highest first) then id, each to its eligible agent with
    the highest bonus that still has spare (ties: most spare left, then agent id)."""
    problem = _problem(tasks, agents)
    index = {a.agent_id: i for i, a in enumerate(problem.agents)}
    left = {a.agent_id: a.spare for a in problem.agents}
    pairs: dict[int, int] = {}
    for t, task in enumerate(problem.tasks):
        best: tuple[float, int, str] | None = None
        for agent_id in task.eligible:
            if left[agent_id] > 0:
                key = (-float(problem.agents[index[agent_id]].specializations.get(task.task_type, 0.0)),
                       -left[agent_id], agent_id)
                if best is None or key < best:
                    best = key
        if best is not None:
            left[best[2]] -= 1
            pairs[t] = index[best[2]]
    return problem.plan("greedy", pairs)


def compare(optimal: Plan, baseline: Plan) -> dict[str, Any]:
    """Both plans side by side. `gain` is optimal - baseline total match (exact when both count
    match in the same decimals), `gain_pct` relative to the baseline (None when it is 0);
    `reassigned` counts tasks whose agent differs, being unassigned in one plan included."""
    tasks = set(optimal.assignments) | set(optimal.unassigned)
    if tasks != set(baseline.assignments) | set(baseline.unassigned):
        raise ConfigError("the plans are for different tasks", field="baseline")
    if optimal.match_decimals == baseline.match_decimals:
        scale = 10**optimal.match_decimals
        gain_units = optimal.match_units - baseline.match_units
        gain = gain_units / scale
        pct = 100 * gain_units / baseline.match_units if baseline.match_units else None
    else:
        gain = optimal.total_match - baseline.total_match
        pct = 100 * gain / baseline.total_match if baseline.total_match else None
    return {
        "total_match": {"optimal": optimal.total_match, "baseline": baseline.total_match},
        "gain": gain,
        "gain_pct": pct,
        "assigned": {"optimal": optimal.assigned, "baseline": baseline.assigned},
        "assigned_by_priority": {
            "optimal": {str(p): n for p, n in optimal.assigned_by_priority.items()},
            "baseline": {str(p): n for p, n in baseline.assigned_by_priority.items()},
        },
        "reassigned": sum(optimal.assignments.get(t) != baseline.assignments.get(t) for t in tasks),
    }


__all__ = ["AgentLoad", "MAX_DECIMALS", "PRIORITIES", "Plan", "Task", "compare", "greedy", "optimize"]
