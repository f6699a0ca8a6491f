"""Demo wall time, and each materialization split into crew overhead, other tools and engine time.

Baseline, measured in the same run: the same compiled SELECT written to parquet
by a plain DuckDB connection (no crew, no Dagster, no sandbox). Figures are
reported as ratios to it, since the machines are shared and noisy.

    python -m bench.demo_bench [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from datacrew_resources.config import Home
from datacrew_resources.engine.sandbox import create_source_view
from datacrew_resources.source_refs import build_engine, source_refs

RESULTS = Path(__file__).parent / "results"


def run_demo(home: Path) -> tuple[float, dict]:
    """`datacrew demo` as a user runs it: a fresh process, imports included."""
    env = {**os.environ, "DATACREW_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "datacrew_assets.cli", "demo", "--home", str(home), "--json"],
        capture_output=True, text=True, env=env, check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"demo failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return seconds, json.loads(done.stdout)


def baseline_seconds(home: Home, asset_key: str, out_dir: Path) -> float:
    """Raw DuckDB: the compiled SELECT, COPY'd to parquet in a plain connection."""
    config = home.load_config()
    specs = home.load_specs(config)
    spec = next(l.spec for l in specs if l.spec.key_string == asset_key)
    plan = build_engine(home, config, specs).compile(spec)
    refs = source_refs(home, specs)
    engine = config.engine
    with duckdb.connect(config={"memory_limit": engine.memory_limit, "threads": engine.threads}) as connection:
        for index, key in enumerate(plan.source_keys):
            create_source_view(connection, refs[key], index)
        target = str(out_dir / f"{spec.name}.parquet")
        started = time.perf_counter()
        connection.execute(f"COPY ({plan.sql}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        return time.perf_counter() - started


PARTS = ("crew", "tools", "engine", "baseline")


def _summarise(per_asset: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    summary = {}
    for key, samples in per_asset.items():
        median = {part: statistics.median(samples[part]) for part in PARTS}
        total = median["crew"] + median["tools"] + median["engine"]
        summary[key] = {
            "crew_overhead_s": median["crew"],
            "tools_s": median["tools"],
            "engine_s": median["engine"],
            "raw_duckdb_s": median["baseline"],
            "engine_over_raw": median["engine"] / median["baseline"],
            "total_over_raw": total / median["baseline"],
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    walls: list[float] = []
    per_asset: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):
            home_dir = Path(tmp) / f"home{attempt}"
            wall, payload = run_demo(home_dir)
            walls.append(wall)
            for asset in payload["assets"]:
                samples = per_asset.setdefault(asset["asset_key"], {part: [] for part in PARTS})
                samples["crew"].append(asset["crew_seconds"])
                samples["tools"].append(asset["tool_seconds"])
                samples["engine"].append(asset["engine_seconds"])
                samples["baseline"].append(baseline_seconds(Home(home_dir), asset["asset_key"], Path(tmp)))
    summary = {"demo_wall_seconds_median": statistics.median(walls), "demo_wall_seconds": walls,
               "assets": _summarise(per_asset)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "demo_bench.json").write_text(json.dumps(summary, indent=2))
    print(f"demo wall time: median {summary['demo_wall_seconds_median']:.1f}s over {args.repeat} fresh homes")
    print("| asset | crew overhead s | other tools s | engine s | raw DuckDB s | engine / raw | total / raw |")
    print("|---|---|---|---|---|---|---|")
    for key, v in summary["assets"].items():
        print(f"| {key} | {v['crew_overhead_s']:.3f} | {v['tools_s']:.3f} | {v['engine_s']:.3f} "
              f"| {v['raw_duckdb_s']:.3f} | {v['engine_over_raw']:.2f} | {v['total_over_raw']:.1f} |")


if __name__ == "__main__":
    main()
