"""Issue 6's check-suite target: every quality check of a discovered dataset against one DuckDB `SUMMARIZE`.

    python -m bench.check_bench [--rows 10000000] [--repeat 5] [--no-dagster] [--workdir DIR]

Data: N synthetic flights (`bench.synthetic_flights`, one zstd parquet file) with a
`flight_id` key (the file's row number), discovered as `lake/flights` beside the
16-row `warehouse/airlines` dimension. Its `datasets:` declaration is what a team
would write for such a table: primary key `flight_id`, ten required columns, ranges
on the delays, times, distance and month, accepted origins, a tail-number pattern and
carrier referencing `warehouse/airlines.carrier`. The data meets every rule, so the
figures are all 1.0 and no sample query runs (samples are fetched only on failure).

Measured in the same process, each round running every variant once in turn (medians
of `--repeat` rounds), every variant in a fresh DuckDB connection with the home's
engine settings (threads, memory_limit), the connection opened outside the timing:

- baseline: `SUMMARIZE SELECT * FROM read_parquet(<the dataset's files>)`;
- the check suite: `quality.dataset.assess_dataset` with all five checks
  (schema_conformity, completeness, consistency, accuracy, row_count_anomaly against a
  history of row counts), the plain function the Dagster check op calls;
- its two parts, each alone (`checks=`): schema_conformity, which reads metadata only,
  and the single scan, timed as completeness alone (consistency, accuracy and the row
  count for row_count_anomaly come from the very same scan, so any one of them costs it);
- the Dagster check op (unless `--no-dagster`): the `dataset_quality_checks` job for
  this one dataset, `execute_in_process` on an ephemeral instance; the op's step time
  and the whole run are reported.

The ratio is given as ratio of medians and median of the per-round ratios. Results: a
markdown section on stdout, `bench/results/check_bench.json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import yaml

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home
from datacrew_resources.config.datasets import dataset_settings
from datacrew_resources.quality.dataset import DATASET_CHECKS, assess_dataset
from datacrew_resources.source_refs import source_refs

from .harness import log_to_stderr, run_in_workdir
from .synthetic_flights import write_flights, write_warehouse

RESULTS = Path(__file__).parent / "results"
DATASET = "lake/flights"
TARGET_RATIO = 1.3
# The suite's two parts: `checks=` subsets that cost one part each (see the docstring).
PARTS = {
    "schema_conformity alone (metadata only)": ("schema_conformity",),
    "the single scan alone (timed as completeness; the other figures share it)": ("completeness",),
}
HISTORY = (9_990_000, 10_000_000, 10_010_000, 9_995_000, 10_005_000)  # scaled to --rows below

DECLARATION = {
    "primary_key": ["flight_id"],
    "required_columns": ["flight_id", "year", "month", "day", "sched_dep_time", "carrier", "flight",
                         "origin", "dest", "distance"],
    "columns": {
        "carrier": {"references": "warehouse/airlines.carrier"},
        "origin": {"accepted_values": ["EWR", "JFK", "LGA"]},
        "tailnum": {"pattern": "^N[0-9]{5}$"},
        "month": {"min": 1, "max": 12},
        "sched_dep_time": {"min": 0, "max": 2359},
        "dep_delay": {"min": -60, "max": 1000},
        "arr_delay": {"min": -120, "max": 1100},
        "air_time": {"min": 0, "max": 800},
        "distance": {"min": 1, "max": 5000},
    },
}

log = logging.getLogger("bench.check_bench")


def write_dataset(workdir: Path, rows: int) -> tuple[Path, Path]:
    """The flights parquet with a `flight_id` key, in a lake directory, and the airlines warehouse."""
    lake = workdir / "lake"
    lake.mkdir(parents=True, exist_ok=True)
    flights = lake / "flights.parquet"
    if not flights.exists():
        raw = write_flights(workdir / "raw.parquet", rows)
        with duckdb.connect() as con:
            con.execute(
                "COPY (SELECT file_row_number + 1 AS flight_id, * EXCLUDE (file_row_number)"
                " FROM read_parquet(?, file_row_number = true)) TO ? (FORMAT parquet, COMPRESSION zstd)",
                [str(raw), str(flights)],
            )
        raw.unlink()
    return lake, write_warehouse(workdir / "warehouse.duckdb")


def make_home(root: Path, lake: Path, warehouse: Path, *, memory_limit: str, threads: int) -> Home:
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "sources": [
            {"name": "lake", "type": "data_lake", "uri": str(lake), "owner": "team:flight-ops"},
            {"name": "warehouse", "type": "data_warehouse", "uri": str(warehouse), "owner": "team:analytics"},
        ],
        "datasets": {DATASET: DECLARATION},
        "engine": {"memory_limit": memory_limit, "threads": threads},
    }
    (root / "datacrew.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    home = Home.resolve(root)
    discover(home, home.load_config())
    return home


class Suite:
    """What every variant needs, resolved once: the record, its settings, the referenced inputs."""

    def __init__(self, home: Home, rows: int) -> None:
        config = home.load_config()
        self.home = home
        self.engine = config.engine
        self.record = CatalogStore(home.catalog_path).get(DATASET)
        self.settings = dataset_settings(config.datasets, config.quality, DATASET)
        refs = source_refs(home, [])
        self.references = {key: refs[key] for key in self.settings.referenced_keys}
        self.history = tuple(round(h * rows / 10_000_000) for h in HISTORY)

    def connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config={"threads": self.engine.threads, "memory_limit": self.engine.memory_limit})
        con.execute("SET enable_progress_bar = false")
        return con

    def summarize(self) -> dict[str, Any]:
        with self.connect() as con:
            started = time.perf_counter()
            rows = con.execute("SUMMARIZE SELECT * FROM read_parquet(?)", [self.record.location]).fetchall()
            return {"seconds": time.perf_counter() - started, "columns": len(rows)}

    def assess(self, checks: tuple[str, ...] = DATASET_CHECKS) -> dict[str, Any]:
        with self.connect() as con:
            started = time.perf_counter()
            assessment = assess_dataset(con, self.record, self.settings, references=self.references,
                                        history=self.history, checks=checks)
            seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "figures": {name: check.value for name, check in assessment.checks.items()},
            "passed": {name: check.passed for name, check in assessment.checks.items()},
            "row_count": assessment.row_count,
        }


def run_dagster(home: Home) -> dict[str, Any]:
    """The dataset checks job for this dataset alone, in process; the check op's step time."""
    import dagster as dg

    from datacrew_assets.definitions import build_definitions

    started = time.perf_counter()
    defs = build_definitions(home)
    job = defs.resolve_job_def("dataset_quality_checks")
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        prepared = time.perf_counter()
        result = job.execute_in_process(instance=instance, run_config=quiet, raise_on_error=True)
        wall = time.perf_counter() - prepared
        steps = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(result.run_id)}
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()
                   if e.asset_key.to_user_string() == DATASET}
    return {"seconds": wall, "step_seconds": sum(steps.values()), "steps": steps,
            "definitions_seconds": prepared - started, "passed": evaluations}


def _rounds(repeat: int, variants: dict[str, Callable[[], dict[str, Any]]]) -> dict[str, list[dict]]:
    samples: dict[str, list[dict]] = {name: [] for name in variants}
    for attempt in range(repeat):
        for name, variant in variants.items():
            samples[name].append(variant())
            log.info("round %d %s: %.3fs", attempt + 1, name, samples[name][-1]["seconds"])
    return samples


def _median(samples: list[dict], field: str = "seconds") -> float:
    return statistics.median(s[field] for s in samples)


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    started = time.perf_counter()
    lake, warehouse = write_dataset(workdir, args.rows)
    data_seconds = time.perf_counter() - started
    home = make_home(workdir / "home", lake, warehouse, memory_limit=args.memory_limit, threads=args.threads)
    suite = Suite(home, args.rows)
    log.info("data ready: %s rows in %.1fs", f"{suite.record.record_count:,}", data_seconds)
    variants: dict[str, Callable[[], dict[str, Any]]] = {
        "summarize": suite.summarize,
        "check_suite": suite.assess,
    }
    variants.update({f"part:{label}": (lambda checks=checks: suite.assess(checks)) for label, checks in PARTS.items()})
    if not args.no_dagster:
        run_dagster(home)  # imports and a first run before any timing
        variants["dagster_check_op"] = lambda: run_dagster(home)
    suite.summarize()  # the file's pages in the OS cache for everyone
    samples = _rounds(args.repeat, variants)

    summary: dict[str, Any] = {name: {"seconds": _median(runs), "all_seconds": [r["seconds"] for r in runs]}
                               for name, runs in samples.items()}
    check = samples["check_suite"][-1]
    summary["check_suite"].update(figures=check["figures"], passed=check["passed"], row_count=check["row_count"])
    base = summary["summarize"]["seconds"]
    ratios = {
        "check_suite_over_summarize": summary["check_suite"]["seconds"] / base,
        "check_suite_over_summarize_per_round": statistics.median(
            a["seconds"] / b["seconds"] for a, b in zip(samples["check_suite"], samples["summarize"])),
    }
    if "dagster_check_op" in samples:
        dagster_runs = samples["dagster_check_op"]
        summary["dagster_check_op"].update(step_seconds=_median(dagster_runs, "step_seconds"),
                                           passed=dagster_runs[-1]["passed"])
        ratios["dagster_step_over_summarize"] = summary["dagster_check_op"]["step_seconds"] / base
        ratios["dagster_step_over_summarize_per_round"] = statistics.median(
            a["step_seconds"] / b["seconds"] for a, b in zip(dagster_runs, samples["summarize"]))
    return {
        "rows": suite.record.record_count,
        "parquet_mb": suite.record.size_bytes / 2**20,
        "repeat": args.repeat,
        "engine": {"threads": args.threads, "memory_limit": args.memory_limit},
        "machine": {"cpus": os.cpu_count(), "load_average_before": args.load_before,
                    "load_average_after": os.getloadavg()},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "declaration": DECLARATION,
        "variants": summary,
        "ratios": ratios,
    }


def report(r: dict[str, Any]) -> str:
    v, q = r["variants"], r["ratios"]
    base = v["summarize"]["seconds"]
    met = max(q["check_suite_over_summarize"], q["check_suite_over_summarize_per_round"]) <= TARGET_RATIO
    lines = [
        f"{r['date']}: {r['rows']:,} rows ({r['parquet_mb']:.0f} MB zstd parquet), medians of {r['repeat']} rounds, "
        f"DuckDB threads {r['engine']['threads']}, memory_limit {r['engine']['memory_limit']}; "
        f"{r['machine']['cpus']} CPUs, load average {r['machine']['load_average_before'][0]:.1f} before, "
        f"{r['machine']['load_average_after'][0]:.1f} after.",
        "",
        "| variant | seconds | / SUMMARIZE |",
        "|---|---|---|",
        f"| DuckDB `SUMMARIZE` (baseline) | {base:.3f} | 1.00 |",
        f"| check suite, all five checks (`assess_dataset`) | {v['check_suite']['seconds']:.3f} "
        f"| {q['check_suite_over_summarize']:.2f} (per round {q['check_suite_over_summarize_per_round']:.2f}) |",
    ]
    for label in PARTS:
        part = v[f"part:{label}"]["seconds"]
        lines.append(f"| &nbsp; {label} | {part:.3f} | {part / base:.2f} |")
    if "dagster_check_op" in v:
        d = v["dagster_check_op"]
        lines += [
            f"| Dagster check op (step of `dataset_quality_checks`) | {d['step_seconds']:.3f} "
            f"| {q['dagster_step_over_summarize']:.2f} (per round {q['dagster_step_over_summarize_per_round']:.2f}) |",
            f"| &nbsp; whole `execute_in_process` run | {d['seconds']:.3f} | {d['seconds'] / base:.2f} |",
        ]
    figures = ", ".join(f"{k} {val:g}" for k, val in v["check_suite"]["figures"].items() if val is not None)
    lines += [
        "",
        f"Figures: {figures}; all passed: {all(v['check_suite']['passed'].values())}.",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
        f"| check suite / SUMMARIZE (ratio of medians; median of per-round ratios) "
        f"| {q['check_suite_over_summarize']:.2f}; {q['check_suite_over_summarize_per_round']:.2f} "
        f"| <= {TARGET_RATIO} | {'yes' if met else '**no**'} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the demo's engine.threads)")
    parser.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit (the demo's)")
    parser.add_argument("--no-dagster", action="store_true", help="skip the Dagster check-op variant")
    parser.add_argument("--workdir", help="keep data and home here (default: a temp dir, removed)")
    args = parser.parse_args()
    log_to_stderr(log)
    args.load_before = os.getloadavg()
    result = run_in_workdir(args, run, prefix="datacrew-check-bench-")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "check_bench.json").write_text(json.dumps(result, indent=2, default=str))
    print(report(result))


if __name__ == "__main__":
    main()
