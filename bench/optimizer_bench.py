"""The delegation optimiser against the greedy baseline on a realistic roster, same run, same input.

    python -m bench.optimizer_bench [--tasks 10000] [--agents 40] [--seeds 0 1 2] [--repeat 5]

Roster (per seed): `--agents` agents spread over the authorities the tutorial's rules delegate to
(`DEFAULT_RULES`: PIPELINE_MANAGER, STAGE_COORDINATOR, PIPELINE_COLLABORATOR), capacity 5-20,
a current workload of 0..capacity tasks, a clearance of internal/confidential/restricted, and 2-4
specialisations over the task types its authority receives, bonus 0.80-1.50 in steps of 0.05.

Tasks: `--tasks` pending tasks, type uniform over the rules' 16 task types, priority EMERGENCY 1%,
CRITICAL 4%, HIGH 15%, MEDIUM 30%, LOW 50%, touching public/internal/confidential/restricted data
(40/35/20/5%). Eligible, as the policy would judge it: agents of the rule's target authority whose
clearance covers the data when the rule requires governance.

Timings are medians over `--repeat` rounds, each round running greedy then optimize on the same
input (validation included in both). Results: a markdown table on stdout,
`bench/results/optimizer_bench.json`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from datacrew_resources.config.classification import may_read
from datacrew_resources.config.platform import AgentConfig
from datacrew_resources.delegation.optimizer import AgentLoad, Task, compare, greedy, optimize
from datacrew_resources.delegation.rules import DEFAULT_RULES

RESULTS = Path(__file__).parent / "results"
PRIORITY_WEIGHTS = {5: 1, 4: 4, 3: 15, 2: 30, 1: 50}
DATA = {"public": 40, "internal": 35, "confidential": 20, "restricted": 5}
BONUSES = [round(0.8 + 0.05 * i, 2) for i in range(15)]


def roster(rng: random.Random, n_agents: int) -> tuple[list[AgentConfig], dict[str, int]]:
    by_authority: dict = {}
    for rule in DEFAULT_RULES:
        by_authority.setdefault(rule.to_authority, []).extend(rule.task_types)
    authorities = sorted(by_authority)
    agents, workload = [], {}
    for i in range(n_agents):
        authority = authorities[i % len(authorities)]
        kinds = rng.sample(by_authority[authority], rng.randint(2, 4))
        capacity = rng.randint(5, 20)
        agent = AgentConfig(
            id=f"agent_{i:02d}", authority=authority, capacity=capacity,
            clearance=rng.choice(["internal", "confidential", "restricted"]),
            specializations={kind: rng.choice(BONUSES) for kind in kinds},
        )
        agents.append(agent)
        workload[agent.id] = rng.randint(0, capacity)
    return agents, workload


def pending(rng: random.Random, n_tasks: int, agents: list[AgentConfig]) -> list[Task]:
    rule_for = {kind: rule for rule in DEFAULT_RULES for kind in rule.task_types}
    kinds = sorted(rule_for)
    tasks = []
    for i in range(n_tasks):
        kind = rng.choice(kinds)
        rule = rule_for[kind]
        data = rng.choices(list(DATA), list(DATA.values()))[0]
        eligible = frozenset(
            a.id for a in agents
            if a.authority == rule.to_authority
            and (not rule.data_governance_required or may_read(a.clearance, data))
        )
        priority = rng.choices(list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values()))[0]
        tasks.append(Task(f"task_{i:05d}", kind, priority, eligible))
    return tasks


def run_seed(seed: int, n_tasks: int, n_agents: int, repeat: int) -> dict:
    rng = random.Random(seed)
    agents, workload = roster(rng, n_agents)
    loads = [AgentLoad.of(a, workload[a.id]) for a in agents]
    tasks = pending(rng, n_tasks, agents)
    times: dict[str, list[float]] = {"greedy": [], "optimize": []}
    plans = {}
    for _ in range(repeat):
        for name, solve in (("greedy", greedy), ("optimize", optimize)):
            started = time.perf_counter()
            plans[name] = solve(tasks, loads)
            times[name].append(time.perf_counter() - started)
    best, base = plans["optimize"], plans["greedy"]
    if best.objective < base.objective:
        raise AssertionError(f"seed {seed}: optimize {best.objective} worse than greedy {base.objective}")
    figures = compare(best, base)
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    return {
        "seed": seed,
        "tasks": n_tasks,
        "agents": n_agents,
        "slots": sum(load.spare for load in loads),
        "pending_by_priority": {str(p): sum(t.priority == p for t in tasks) for p in (5, 4, 3, 2, 1)},
        "seconds": times,
        "greedy_s": medians["greedy"],
        "optimize_s": medians["optimize"],
        "optimize_over_greedy": medians["optimize"] / medians["greedy"],
        "per_round_ratio_median": statistics.median(o / g for o, g in zip(times["optimize"], times["greedy"])),
        **figures,
    }


def report(results: list[dict]) -> str:
    lines = [
        "| seed | slots | greedy s | optimize s | optimize / greedy | match greedy | match optimal "
        "| gain | assigned P5/P4/P3 greedy | assigned P5/P4/P3 optimal | reassigned |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        tiers = {k: "/".join(str(v[p]) for p in ("5", "4", "3")) for k, v in r["assigned_by_priority"].items()}
        lines.append(
            f"| {r['seed']} | {r['slots']} | {r['greedy_s']:.3f} | {r['optimize_s']:.3f} "
            f"| {r['optimize_over_greedy']:.2f} | {r['total_match']['baseline']:.2f} "
            f"| {r['total_match']['optimal']:.2f} | +{r['gain_pct']:.1f}% "
            f"| {tiers['baseline']} | {tiers['optimal']} | {r['reassigned']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = [run_seed(seed, args.tasks, args.agents, args.repeat) for seed in args.seeds]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "optimizer_bench.json").write_text(json.dumps(results, indent=2))
    print(f"{args.tasks} pending tasks, {args.agents} agents, median of {args.repeat} rounds per seed")
    print(report(results))


if __name__ == "__main__":
    main()
