"""One delegation gate tick over a 10,000-request backlog, through the real Dagster sensor.

The backlog mixes what a platform sees: requests the tutorial's rules allow
(coordinator -> collaborator), ones that escalate (a failed condition), ones that
wait for approval (manager -> coordinator) and ones no rule covers. The tick is
the `delegation_gate` sensor evaluated with `build_sensor_context` on a real
SQLite Dagster instance, so it includes loading the home's config, the ledger
reconciliation against the instance and building the run requests.

Baseline, measured in the same run: reading the same 10,000 pending rows from
the request store (`pending_batch`, rows decoded), the least any tick must do.
The target is absolute as well: under 3 s (a twentieth of Dagster's 60 s sensor
budget) with at most 1,000 run requests, the rest carried by the cursor.

    python -m bench.gate_bench [--requests N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

from datacrew_assets.definitions import build_definitions
from datacrew_assets.delegation import GATE_SENSOR
from datacrew_resources.config import Home
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.delegation.store import PENDING

RESULTS = Path(__file__).parent / "results"
TASKS = ["data_transformation", "data_validation", "schema_mapping", "data_profiling", "etl_orchestration"]


def make_home(root: Path, collaborators: int, capacity: int) -> Home:
    agents = [{"id": "arch-1", "authority": "DATA_ARCHITECT"},
              {"id": "mgr-1", "authority": "PIPELINE_MANAGER", "capacity": 50},
              {"id": "coord-1", "authority": "STAGE_COORDINATOR", "capacity": 200}]
    agents += [{"id": f"collab-{i}", "authority": "PIPELINE_COLLABORATOR", "capacity": capacity,
                "specializations": {TASKS[i % 4]: 1.2}} for i in range(collaborators)]
    config = {"agents": agents, "task_types": {t: {"job": "materialize_transformations"} for t in TASKS},
              "transformations": "specs/*.yaml"}
    (root / "specs").mkdir(parents=True)
    (root / "datacrew.yaml").write_text(yaml.safe_dump(config))
    return Home(root)


def fill(delegation: Delegation, n: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    kinds = {"allowed": 0, "escalates": 0, "needs_approval": 0, "no_rule": 0}
    collaborators = [a for a in delegation.roster if a.startswith("collab-")]
    for _ in range(n):
        kind = rng.choices(list(kinds), weights=[70, 10, 10, 10])[0]
        kinds[kind] += 1
        priority = rng.randint(1, 5)
        if kind in ("allowed", "escalates"):
            quality = 0.95 if kind == "allowed" else 0.5
            delegation.submit(requester="coord-1", target=rng.choice(collaborators), task_type=rng.choice(TASKS[:4]),
                              priority=priority, facts={"stage_scope": True, "data_quality_threshold": quality})
        elif kind == "needs_approval":
            delegation.submit(requester="mgr-1", target="coord-1", task_type="etl_orchestration", priority=priority,
                              facts={"pipeline_scope": True, "sla_deadline": "12_hours"})
        else:
            delegation.submit(requester="arch-1", target=rng.choice(collaborators), task_type="data_transformation",
                              priority=priority)
    return kinds


# launch: room for 1,600 tasks, so the tick stops at 1,000 run requests and carries the cursor.
# judge_all: room for 40, so the tick judges all 10,000 and records a decision for nearly each.
SCENARIOS = {"launch": 40, "judge_all": 1}


def run_once(n: int, seed: int, scenario: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp) / "home", collaborators=40, capacity=SCENARIOS[scenario])
        delegation = Delegation(home)
        started = time.perf_counter()
        kinds = fill(delegation, n, seed)
        fill_seconds = time.perf_counter() - started

        started = time.perf_counter()
        rows, _ = delegation.store.pending_batch(n, None, states=(PENDING,))
        baseline = time.perf_counter() - started
        assert len(rows) == n

        (Path(tmp) / "dagster").mkdir()
        with dg.instance_for_test(temp_dir=str(Path(tmp) / "dagster")) as instance:
            defs = build_definitions(home)
            sensor = defs.resolve_sensor_def(GATE_SENSOR)
            context = dg.build_sensor_context(instance=instance, definitions=defs)
            started = time.perf_counter()
            result = sensor(context)
            tick = time.perf_counter() - started
        counts = delegation.store.counts()
        return {"scenario": scenario, "requests": n, "kinds": kinds, "fill_seconds": fill_seconds, "baseline_seconds": baseline,
                "tick_seconds": tick, "ratio": tick / baseline, "run_requests": len(result.run_requests),
                "cursor_carried": bool(result.cursor), "states_after": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [run_once(args.requests, seed, scenario) for scenario in SCENARIOS for seed in range(args.repeat)]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gate_bench.json").write_text(json.dumps(runs, indent=2))
    print(f"{args.requests} pending requests, {args.repeat} fresh stores per scenario")
    for scenario in SCENARIOS:
        mine = [r for r in runs if r["scenario"] == scenario]
        for r in mine:
            print(f"  {scenario}: tick {r['tick_seconds']:.2f}s = {r['ratio']:.1f}x baseline read "
                  f"{r['baseline_seconds']:.3f}s; {r['run_requests']} run requests, cursor carried: "
                  f"{r['cursor_carried']}; states {r['states_after']}")
        ticks = [r["tick_seconds"] for r in mine]
        print(f"  {scenario}: median tick {statistics.median(ticks):.2f}s (target < 3 s), max {max(ticks):.2f}s; "
              f"median ratio {statistics.median(r['ratio'] for r in mine):.1f}x")


if __name__ == "__main__":
    main()
