"""The delegation optimiser: exact small cases, properties against greedy and brute force, bad input."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacrew_resources.config.errors import ConfigError
from datacrew_resources.config.platform import AgentConfig
from datacrew_resources.delegation.optimizer import (
    PRIORITIES,
    AgentLoad,
    Plan,
    Task,
    _decimals,
    _problem,
    _solve,
    compare,
    greedy,
    optimize,
)


def task(task_id, task_type, priority, eligible):
    return Task(task_id, task_type, priority, frozenset(eligible))


def exact_match(plan: Plan) -> Fraction:
    return Fraction(plan.match_units, 10**plan.match_decimals)


def check_feasible(plan: Plan, tasks, agents) -> None:
    by_id = {t.id: t for t in tasks}
    spare = {a.agent_id: a.spare for a in agents}
    assert set(plan.assignments) | set(plan.unassigned) == set(by_id)
    assert not set(plan.assignments) & set(plan.unassigned)
    for task_id, agent_id in plan.assignments.items():
        assert agent_id in by_id[task_id].eligible
    for agent_id, used in plan.per_agent.items():
        assert used == sum(a == agent_id for a in plan.assignments.values())
        assert used <= spare[agent_id]
    for p in PRIORITIES:
        assert plan.assigned_by_priority[p] == sum(by_id[t].priority == p for t in plan.assignments)


# --- exact small cases -------------------------------------------------------------------------


def test_greedy_strictly_worse_than_optimal():
    agents = [AgentLoad("a", 1, {"x": 1.5, "y": 1.2}), AgentLoad("b", 1, {"x": 1.4})]
    tasks = [task("t1", "x", 3, "ab"), task("t2", "y", 3, "ab")]
    best, base = optimize(tasks, agents), greedy(tasks, agents)
    assert base.assignments == {"t1": "a", "t2": "b"}
    assert base.total_match == 1.5
    assert best.assignments == {"t1": "b", "t2": "a"}
    assert best.total_match == 2.6
    assert compare(best, base) == {
        "total_match": {"optimal": 2.6, "baseline": 1.5},
        "gain": 1.1,
        "gain_pct": 100 * 11 / 15,
        "assigned": {"optimal": 2, "baseline": 2},
        "assigned_by_priority": {
            "optimal": {"5": 0, "4": 0, "3": 2, "2": 0, "1": 0},
            "baseline": {"5": 0, "4": 0, "3": 2, "2": 0, "1": 0},
        },
        "reassigned": 2,
    }


def test_greedy_drops_an_emergency_the_optimum_keeps():
    # Greedy gives t1 to its best match a, then t2 (only a may take it) finds a full.
    agents = [AgentLoad("a", 1, {"x": 1.2}), AgentLoad("b", 1)]
    tasks = [task("t1", "x", 5, "ab"), task("t2", "x", 5, "a")]
    base, best = greedy(tasks, agents), optimize(tasks, agents)
    assert base.assignments == {"t1": "a"} and base.unassigned == ("t2",)
    assert best.assignments == {"t1": "b", "t2": "a"} and best.total_match == 1.2
    assert best.assigned_by_priority[5] == 2 and base.assigned_by_priority[5] == 1


def test_capacity_respected():
    agents = [AgentLoad("a", 2, {"x": 2.0}), AgentLoad("b", 0, {"x": 9.0}), AgentLoad("c", 1)]
    tasks = [task(f"t{i}", "x", 3, "abc") for i in range(5)]
    plan = optimize(tasks, agents)
    assert plan.per_agent == {"a": 2, "b": 0, "c": 1}
    assert plan.unassigned == ("t3", "t4")
    assert plan.total_match == 4.0
    check_feasible(plan, tasks, agents)


def test_higher_priority_never_dropped_for_lower():
    # The low-priority tasks match far better and are two against one; the emergency still wins.
    agents = [AgentLoad("a", 1, {"x": 0.1, "y": 50.0})]
    tasks = [task("low1", "y", 1, "a"), task("low2", "y", 2, "a"), task("high", "x", 5, "a")]
    plan = optimize(tasks, agents)
    assert plan.assignments == {"high": "a"}
    assert plan.unassigned == ("low2", "low1")
    assert plan.total_match == 0.1


def test_more_high_priority_tasks_beat_any_match():
    # a can take either x-task; b only the CRITICAL one. Assigning both CRITICAL tasks is required
    # even though it costs the HIGH task and all of the match.
    agents = [AgentLoad("a", 1, {"z": 100.0}), AgentLoad("b", 1)]
    tasks = [task("c1", "x", 4, "ab"), task("c2", "x", 4, "a"), task("h", "z", 3, "a")]
    plan = optimize(tasks, agents)
    assert plan.assignments == {"c1": "b", "c2": "a"}
    assert plan.total_match == 0.0
    assert plan.objective == (0, 2, 0, 0, 0, 0)


def test_ineligible_agents_never_used():
    agents = [AgentLoad("star", 5, {"x": 10.0}), AgentLoad("plain", 1)]
    tasks = [task("t1", "x", 3, {"plain"}), task("t2", "x", 3, {"plain"}), task("t3", "x", 3, ())]
    plan = optimize(tasks, agents)
    assert plan.assignments == {"t1": "plain"}
    assert plan.unassigned == ("t2", "t3")
    assert plan.per_agent == {"plain": 1, "star": 0}


def test_eligible_agent_without_specialisation_takes_task():
    plan = optimize([task("t", "x", 1, "a")], [AgentLoad("a", 1, {"y": 1.3})])
    assert plan.assignments == {"t": "a"} and plan.total_match == 0.0


@pytest.mark.parametrize("solve", [optimize, greedy])
def test_empty_inputs(solve):
    empty = solve([], [])
    assert (empty.assignments, empty.unassigned, empty.total_match, empty.per_agent) == ({}, (), 0.0, {})
    assert empty.assigned_by_priority == {5: 0, 4: 0, 3: 0, 2: 0, 1: 0}
    no_agents = solve([task("t", "x", 2, ())], [])
    assert no_agents.unassigned == ("t",) and no_agents.assignments == {}
    no_room = solve([task("t", "x", 2, "a")], [AgentLoad("a", 0, {"x": 1.0})])
    assert no_room.unassigned == ("t",) and no_room.per_agent == {"a": 0}


def test_plan_orders_and_to_dict_is_json():
    agents = [AgentLoad("b", 1, {"x": 0.85}), AgentLoad("a", 2)]
    tasks = [task("t2", "x", 1, "ab"), task("t1", "x", 5, "ab"), task("t0", "y", 1, "ab"), task("t3", "y", 1, "b")]
    plan = optimize(tasks, agents)
    assert list(plan.assignments) == ["t1", "t0", "t2"]
    assert plan.unassigned == ("t3",)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data == {
        "method": "optimal",
        "assignments": {"t1": "a", "t0": "a", "t2": "b"},
        "unassigned": ["t3"],
        "total_match": 0.85,
        "match_decimals": 2,
        "assigned": 3,
        "assigned_by_priority": {"5": 1, "4": 0, "3": 0, "2": 0, "1": 2},
        "per_agent": {"a": 2, "b": 1},
    }


def test_agent_load_from_config():
    config = AgentConfig(id="c", authority="PIPELINE_COLLABORATOR", capacity=4,
                         specializations={"data_profiling": 1.2})
    assert AgentLoad.of(config, 1) == AgentLoad("c", 3, {"data_profiling": 1.2})
    assert AgentLoad.of(config, 9).spare == 0


def test_bonuses_with_many_decimals_are_counted_in_micro_units():
    agents = [AgentLoad("a", 1, {"x": 0.123456789})]
    plan = optimize([task("t", "x", 1, "a")], agents)
    assert plan.match_decimals == 6 and plan.match_units == 123457


def test_bonus_too_large_to_solve_exactly():
    with pytest.raises(ConfigError, match="too large to optimise exactly"):
        optimize([task("t", "x", 1, "a")], [AgentLoad("a", 1, {"x": 1e15})])


def test_decimals_lowered_to_stay_exact_in_float64():
    # With 10,000 assignable tasks, 3 or more decimals would put 8 x the largest weight above 2**53.
    assert _decimals([25_000_000.123456], 10_000) == (2, 10_000 * 2_500_000_012 + 1)
    assert _decimals([1.25, 0.5], 300) == (2, 300 * 125 + 1)
    assert _decimals([-0.3, 1.2], 10) == (1, 10 * (12 + 3) + 1)


def test_compare_refuses_plans_for_different_tasks():
    agents = [AgentLoad("a", 1)]
    with pytest.raises(ConfigError, match="different tasks"):
        compare(optimize([task("t", "x", 1, "a")], agents), greedy([task("u", "x", 1, "a")], agents))


def test_compare_without_baseline_match():
    agents = [AgentLoad("a", 1)]
    tasks = [task("t", "x", 1, "a")]
    result = compare(optimize(tasks, agents), greedy(tasks, agents))
    assert result["gain"] == 0.0 and result["gain_pct"] is None and result["reassigned"] == 0


# --- properties --------------------------------------------------------------------------------

BONUSES = st.sampled_from([0.5, 0.8, 0.85, 0.9, 1.0, 1.2, 1.5, 2.25, -0.3])
TYPES = ("x", "y", "z")


@st.composite
def instances(draw, max_agents=3, max_tasks=6, max_spare=3):
    n_agents = draw(st.integers(0, max_agents))
    agents = [
        AgentLoad(f"a{i}", draw(st.integers(0, max_spare)),
                  draw(st.dictionaries(st.sampled_from(TYPES), BONUSES, max_size=3)))
        for i in range(n_agents)
    ]
    ids = [a.agent_id for a in agents]
    n_tasks = draw(st.integers(0, max_tasks))
    tasks = [
        Task(f"t{i}", draw(st.sampled_from(TYPES)), draw(st.integers(1, 5)),
             frozenset(draw(st.sets(st.sampled_from(ids))) if ids else ()))
        for i in range(n_tasks)
    ]
    return tasks, draw(st.permutations(agents))


def brute_force(tasks, agents) -> tuple:
    """The best (counts per priority from 5 down, exact match) over every feasible assignment."""
    bonus = {a.agent_id: a.specializations for a in agents}
    best = None

    def walk(i, left, counts, match):
        nonlocal best
        if i == len(tasks):
            key = (*counts, match)
            best = key if best is None or key > best else best
            return
        walk(i + 1, left, counts, match)
        t = tasks[i]
        for agent_id in t.eligible:
            if left[agent_id] > 0:
                left[agent_id] -= 1
                more = list(counts)
                more[PRIORITIES.index(t.priority)] += 1
                walk(i + 1, left, more, match + Fraction(str(bonus[agent_id].get(t.task_type, 0.0))))
                left[agent_id] += 1

    walk(0, {a.agent_id: a.spare for a in agents}, [0] * 5, Fraction(0))
    return best


def exact_objective(plan: Plan) -> tuple:
    return (*plan.objective[:5], exact_match(plan))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_optimal_equals_brute_force(instance):
    tasks, agents = instance
    plan = optimize(tasks, agents)
    check_feasible(plan, tasks, agents)
    assert exact_objective(plan) == brute_force(tasks, agents)


@settings(max_examples=200, deadline=None, database=None)
@given(instances(max_agents=5, max_tasks=25, max_spare=4))
def test_optimal_never_worse_than_greedy(instance):
    tasks, agents = instance
    best, base = optimize(tasks, agents), greedy(tasks, agents)
    check_feasible(best, tasks, agents)
    check_feasible(base, tasks, agents)
    # Lexicographic: counts per priority from the top, then (at equal counts) the match.
    assert exact_objective(best) >= exact_objective(base)
    if best.objective[:5] == base.objective[:5]:
        assert best.total_match >= base.total_match
    figures = compare(best, base)
    assert figures["gain"] == float(exact_match(best) - exact_match(base))
    assert figures["reassigned"] == sum(best.assignments.get(t.id) != base.assignments.get(t.id) for t in tasks)


@settings(max_examples=60, deadline=None, database=None)
@given(st.integers(0, 2**32 - 1))
def test_candidate_restriction_keeps_the_optimum(seed):
    # Many tasks, few slots: the per-agent restriction cuts most tasks; the optimum is unchanged.
    rng = random.Random(seed)
    agents = [AgentLoad(f"a{i}", rng.randint(0, 3), {k: rng.choice([0.5, 1.0, 1.2, 1.7])
                                                     for k in rng.sample(TYPES, rng.randint(0, 3))})
              for i in range(rng.randint(1, 6))]
    ids = [a.agent_id for a in agents]
    tasks = [Task(f"t{i:03d}", rng.choice(TYPES), rng.choice([1, 2, 3, 4, 5]),
                  frozenset(rng.sample(ids, rng.randint(0, len(ids)))))
             for i in range(rng.randint(0, 120))]
    problem = _problem(tasks, agents)
    restricted, full = _solve(problem), _solve(problem, restrict=False)
    assert problem.plan("r", restricted).objective == problem.plan("f", full).objective


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tasks, agents, message", [
    ([task("t", "x", 1, "a"), task("t", "y", 2, "a")], [AgentLoad("a", 1)],
     "tasks[1].id: 't': duplicate task id"),
    ([], [AgentLoad("a", 1), AgentLoad("a", 2)], "agents[1].agent_id: 'a': duplicate agent id"),
    ([], [AgentLoad("a", -1)], "agents[0].spare: -1: spare must be an integer >= 0"),
    ([task("t", "x", 0, "a")], [AgentLoad("a", 1)], "tasks[0].priority: 0: priority must be an integer from 1 to 5"),
    ([task("t", "x", 6, "a")], [AgentLoad("a", 1)], "tasks[0].priority: 6: priority must be an integer from 1 to 5"),
    ([task("t", "x", 1, {"a", "ghost"})], [AgentLoad("a", 1)],
     "tasks[0].eligible: 'ghost': eligible agent is not among the agents"),
    ([], [AgentLoad("a", 1, {"x": float("nan")})], "agents[0].specializations.x: nan: bonus must be a finite number"),
])
@pytest.mark.parametrize("solve", [optimize, greedy])
def test_bad_input(solve, tasks, agents, message):
    with pytest.raises(ConfigError) as raised:
        solve(tasks, agents)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)
