"""Issue 7's discovery targets on a generated 10,000-file parquet lake, each beside its baseline.

    python -m bench.discovery_bench [--files 10000] [--shapes wide,partitioned] [--repeat 3] [--budget 240]
                                    [--pandas-repeat 1] [--datasets 1000,10000] [--load-repeat 3]
                                    [--validate-repeat 1] [--no-load] [--profile scan|full]
                                    [--workdir DIR]

Lakes (`--files` parquet files each, 100 rows and six columns per file: id, a nullable
amount, label, score, a UTC timestamp and a flag; deterministic). "A 10,000-file lake" can
mean two layouts, so both are measured:

- `wide`: every file is a dataset of its own at the lake's top level (`table_00000.parquet`),
  10,000 datasets; the layout the load target's "10,000 discovered datasets" describes;
- `partitioned`: a tenth as many datasets of ten hive partitions each
  (`events_0000/day=1/part-0.parquet`), the usual layout of a lake table; each dataset is
  one record with partition key `day`.

Discovery and its baselines, in one process, each round running every variant once in turn
(medians of `--repeat` rounds, fewer once a lake's rounds have taken `--budget` seconds; every
file is in the OS page cache for all of them, since the lake was just written and every
variant reads the same footers):

- baseline: `SELECT * FROM parquet_file_metadata('<lake>/**/*.parquet')` in a fresh DuckDB
  connection (every file's footer; the connection is opened outside the timing);
- cold discovery: `catalog.discover.discover(home, config)` with no catalog (the store's
  files are deleted before the timing): scan with the profile from the footers, governance
  with the PII value samples (which also give the distinct estimates), quality score, catalog
  write;
- rescan: the same call again at once, nothing changed;
- cold discovery with PII judged by column names only (`options: {pii_sample: 0}` on the
  source, a second home over the same lake): the scan without reading sample values;
- pandas: `pandas.read_parquet` of every file, one after another (`--pandas-repeat` rounds,
  after the others: it is the slow side of a ">= 10x faster" target).

Code-location load, for each size of `--datasets`: a home whose catalog holds that many
records, written straight through `CatalogStore` without a scan: copies, under new names, of
the record discovery writes for one file of the wide lake (so every field discovery sets,
governance included, is there as a user gets it). Each run is a fresh interpreter with
Python's bytecode cache on (`child_env`; one untimed run fills it first), `--load-repeat`
runs, medians: import `datacrew_assets.definitions`, `build_definitions(home)` (with the
datasets' quality checks in ops of 100, as a user gets them), `resolve_asset_graph()`; the
target is the sum. For what a user waits for when the UI loads the location,
`dagster definitions validate` over `workspace.yaml` (the full repository snapshot) is
timed too, `--validate-repeat` runs.

`--profile scan` (PII by names only) or `--profile full` (as configured, value samples too):
one more cold discovery per shape, and one load child at the largest size, under cProfile;
the top functions go to `bench/results/discovery_profile_*.txt`.

Results: a markdown section on stdout, `bench/results/discovery_bench.json`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from datacrew_resources.catalog.discover import discover
from datacrew_resources.catalog.models import DatasetRecord
from datacrew_resources.catalog.store import CatalogStore
from datacrew_resources.config import Home, PlatformConfig

from .harness import log_to_stderr, run_in_workdir

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parent.parent
ROWS_PER_FILE = 100
PARTITIONS = 10  # files per dataset in the partitioned lake
SHAPES = ("wide", "partitioned")
TARGETS = {"cold_over_duckdb": 1.5, "pandas_over_cold": 10.0, "rescan_over_cold": 0.2,
           "load_ratio": 3.0, "load_seconds": 10.0}
# Runs in a fresh interpreter: the clock starts before the first import.
LOAD_CHILD = """
import json, sys, time
started = time.perf_counter()
import datacrew_assets.definitions as definitions
imported = time.perf_counter()
from datacrew_resources.config import Home
defs = definitions.build_definitions(Home.resolve(sys.argv[1]))
built = time.perf_counter()
graph = defs.resolve_asset_graph()
resolved = time.perf_counter()
print(json.dumps({"import": imported - started, "build_definitions": built - imported,
                  "asset_graph": resolved - built, "seconds": resolved - started,
                  "assets": len(graph.get_all_asset_keys()), "checks": len(graph.asset_check_keys)}))
"""

log = logging.getLogger("bench.discovery_bench")


def parquet_file(index: int) -> pa.Table:
    """`ROWS_PER_FILE` rows that differ per file; every fifth amount is null."""
    base = index * ROWS_PER_FILE
    ids = range(base, base + ROWS_PER_FILE)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "amount": pa.array([None if i % 5 == 0 else i * 7 % 1000 for i in ids], pa.int64()),
        "label": pa.array([f"item {i}" for i in ids], pa.string()),
        "score": pa.array([(i * 37 % 100) / 10 for i in ids], pa.float64()),
        "at": pa.array([datetime(2024, 1, 1 + i % 28, tzinfo=UTC) for i in ids], pa.timestamp("us", tz="UTC")),
        "flag": pa.array([i % 2 == 0 for i in ids], pa.bool_()),
    })


def lake_paths(lake: Path, shape: str, files: int) -> list[Path]:
    if shape == "wide":
        return [lake / f"table_{i:05d}.parquet" for i in range(files)]
    return [lake / f"events_{i // PARTITIONS:04d}" / f"day={i % PARTITIONS + 1}" / "part-0.parquet"
            for i in range(files)]


def write_lake(lake: Path, shape: str, files: int) -> list[Path]:
    """The lake's files, written once per work directory (a complete lake is reused)."""
    paths = lake_paths(lake, shape, files)
    done = lake / ".complete"
    if not done.exists() or done.read_text() != str(files):
        shutil.rmtree(lake, ignore_errors=True)
        lake.mkdir(parents=True)
        for index, path in enumerate(paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(parquet_file(index), path)
        done.write_text(str(files))  # a dotted name: discovery and the glob skip it
    return paths


def write_home(root: Path, lake: Path, options: dict[str, Any] | None = None) -> Home:
    root.mkdir(parents=True, exist_ok=True)
    source = {"name": "lake", "type": "data_lake", "uri": str(lake), "owner": "team:bench"}
    if options:
        source["options"] = options
    config = {"sources": [source]}
    (root / "datacrew.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return Home.resolve(root)


def drop_catalog(home: Home) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{home.catalog_path}{suffix}").unlink(missing_ok=True)


class Lake:
    """One generated lake, its home and the variants timed over it."""

    def __init__(self, workdir: Path, shape: str, files: int) -> None:
        self.shape = shape
        self.root = workdir / f"lake_{shape}"
        started = time.perf_counter()
        self.paths = write_lake(self.root, shape, files)
        self.write_seconds = time.perf_counter() - started
        self.home = write_home(workdir / f"home_{shape}", self.root)
        self.config = self.home.load_config()
        # The same lake with PII judged by column names only: the scan without the value samples.
        self.names_home = write_home(workdir / f"home_{shape}_names_only", self.root, {"pii_sample": 0})
        self.names_config = self.names_home.load_config()
        self.glob = f"{self.root}/**/*.parquet"

    def duckdb_metadata(self) -> dict[str, Any]:
        with duckdb.connect() as con:
            started = time.perf_counter()
            rows = con.execute("SELECT * FROM parquet_file_metadata(?)", [self.glob]).fetchall()
            seconds = time.perf_counter() - started
        return {"seconds": seconds, "files": len(rows), "rows": sum(r[2] for r in rows)}

    def cold(self) -> dict[str, Any]:
        drop_catalog(self.home)
        return self._discover(self.home, self.config)

    def rescan(self) -> dict[str, Any]:
        return self._discover(self.home, self.config)

    def cold_names_only(self) -> dict[str, Any]:
        drop_catalog(self.names_home)
        return self._discover(self.names_home, self.names_config)

    @staticmethod
    def _discover(home: Home, config: PlatformConfig) -> dict[str, Any]:
        started = time.perf_counter()
        report = discover(home, config)
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "datasets": len(report.records),
                "files": sum(r.file_count for r in report.records),
                "rows": sum(r.record_count for r in report.records)}

    def pandas(self) -> dict[str, Any]:
        import pandas as pd

        started = time.perf_counter()
        rows = sum(len(pd.read_parquet(path)) for path in self.paths)
        return {"seconds": time.perf_counter() - started, "files": len(self.paths), "rows": rows}

    def profile(self, out: Path, *, names_only: bool) -> dict[str, float]:
        """One cold discovery under cProfile: its top functions to `out`, named parts' cumulative times."""
        home, config = (self.names_home, self.names_config) if names_only else (self.home, self.config)
        drop_catalog(home)
        profiler = cProfile.Profile()
        profiler.runcall(discover, home, config)
        stats = pstats.Stats(profiler)
        parts = {
            "total (discover)": ("datacrew_resources/catalog/discover.py", "discover"),
            "listing files (lake._find_datasets)": ("datacrew_resources/catalog/lake.py", "_find_datasets"),
            "DESCRIBE per dataset (datafiles.query)": ("datacrew_resources/catalog/datafiles.py", "query"),
            "footers (datafiles.parquet_reader)": ("datacrew_resources/catalog/datafiles.py", "parquet_reader"),
            "profile from footers (datafiles.FooterFigures.add)": ("datacrew_resources/catalog/datafiles.py",
                                                                    "add"),
            "governance (governance.govern)": ("datacrew_resources/catalog/governance.py", "govern"),
            "PII value samples (pii.Sampler.samples)": ("datacrew_resources/catalog/pii.py", "samples"),
            "PII screen of every sample (pii.screen)": ("datacrew_resources/catalog/pii.py", "screen"),
            "distinct counts of every sample (profile.sample_counts)": ("datacrew_resources/catalog/profile.py",
                                                                         "sample_counts"),
            "catalog write (store.replace_sources)": ("datacrew_resources/catalog/store.py", "replace_sources"),
            "catalog read (store.all)": ("datacrew_resources/catalog/store.py", "all"),
        }
        found = {label: cumulative(stats, *where) for label, where in parts.items()}
        pii = "PII by names only" if names_only else "PII from names and sampled values"
        write_top(stats, out, f"cold discovery, {self.shape} lake, {len(self.paths):,} files, {pii}")
        return found


def cumulative(stats: pstats.Stats, file_suffix: str, function: str) -> float:
    """Cumulative seconds of the function `function` defined in a file ending with `file_suffix`."""
    total = 0.0
    for (filename, _, name), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name == function and filename.endswith(file_suffix):
            total += cum
    return total


def write_top(stats: pstats.Stats, out: Path, title: str) -> None:
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    out.write_text(f"{title}\n{text.getvalue()}")


def template_record(workdir: Path) -> DatasetRecord:
    """What discovery writes for one file of the wide lake, every field it sets (governance too)."""
    lake = workdir / "template" / "lake"
    write_lake(lake, "wide", 1)
    home = write_home(workdir / "template" / "home", lake)
    drop_catalog(home)
    [record] = discover(home, home.load_config()).records
    return record


def catalog_home(workdir: Path, count: int, template: DatasetRecord) -> Home:
    """A home whose catalog holds `count` copies of `template` under new names, written without a scan."""
    lake = workdir / f"records_{count}" / "lake"
    lake.mkdir(parents=True, exist_ok=True)
    home = write_home(workdir / f"records_{count}" / "home", lake)
    drop_catalog(home)
    records = [template.model_copy(update={"dataset_name": f"table_{i:05d}",
                                           "location": str(lake / f"table_{i:05d}.parquet")})
               for i in range(count)]
    CatalogStore(home.catalog_path).replace_sources({"lake": records})
    return home


def child_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of load children: Python's bytecode cache on, in a private directory.

    A user's interpreter caches compiled modules; with PYTHONDONTWRITEBYTECODE set (as in some
    sandboxes) and no cache in the venv, every load would compile ~1,400 modules again (~2 s).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(workdir / "pycache"), **extra}


def load_child(home: Home, env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", LOAD_CHILD, str(home.root)], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load of {home.root} failed: {done.stderr.strip()[-800:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def validate_workspace(home: Home, dagster_home: Path, env: dict[str, str]) -> dict[str, Any]:
    """`dagster definitions validate` of the project's workspace for this home, wall time."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").touch()
    env = {**env, "DATACREW_HOME": str(home.root), "DAGSTER_HOME": str(dagster_home)}
    command = [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml",
               "--log-level", "warning"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"dagster definitions validate failed: {done.stderr.strip()[-500:]}")
    return {"seconds": seconds}


def profile_load(home: Home, out: Path, env: dict[str, str]) -> None:
    """A load child under cProfile (import, definitions, asset graph); its top functions to `out`."""
    dump = out.with_suffix(".pstats")
    code = LOAD_CHILD.replace("import json, sys, time", "import json, sys, time, cProfile\n"
                              f"profiler = cProfile.Profile(); profiler.enable()", 1)
    code += f"\nprofiler.disable(); profiler.dump_stats({str(dump)!r})\n"
    done = subprocess.run([sys.executable, "-c", code, str(home.root)], cwd=REPO, env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"profiled load of {home.root} failed: {done.stderr.strip()[-800:]}")
    write_top(pstats.Stats(str(dump)), out, f"code-location load, {home.root}")
    dump.unlink()


def _median(samples: list[dict], field: str = "seconds") -> float:
    return statistics.median(s[field] for s in samples)


def _per_round(numerators: list[dict], denominators: list[dict]) -> float:
    return statistics.median(a["seconds"] / b["seconds"] for a, b in zip(numerators, denominators))


def run_lake(workdir: Path, shape: str, args: argparse.Namespace) -> dict[str, Any]:
    lake = Lake(workdir, shape, args.files)
    log.info("%s lake: %d files ready (%.1fs)", shape, len(lake.paths), lake.write_seconds)
    variants: dict[str, Callable[[], dict[str, Any]]] = {
        "duckdb_file_metadata": lake.duckdb_metadata,
        "cold": lake.cold,
        "rescan": lake.rescan,
        "cold_names_only": lake.cold_names_only,
    }
    samples: dict[str, list[dict]] = {name: [] for name in variants}
    started = time.perf_counter()
    for attempt in range(args.repeat):
        if attempt and time.perf_counter() - started > args.budget:
            log.info("%s: %d round(s) took over --budget %ss, no more", shape, attempt, args.budget)
            break
        for name, variant in variants.items():
            samples[name].append(variant())
            log.info("%s round %d %s: %.3fs", shape, attempt + 1, name, samples[name][-1]["seconds"])
    samples["pandas"] = []
    for attempt in range(args.pandas_repeat):
        samples["pandas"].append(lake.pandas())
        log.info("%s pandas %d: %.3fs", shape, attempt + 1, samples["pandas"][-1]["seconds"])
    expected = {"files": len(lake.paths), "rows": len(lake.paths) * ROWS_PER_FILE}
    for name in samples:
        last = samples[name][-1]
        if {k: last[k] for k in expected} != expected:
            raise RuntimeError(f"{shape} {name} saw {last}, expected {expected}")
    summary = {name: {"seconds": _median(runs), "all_seconds": [r["seconds"] for r in runs]}
               for name, runs in samples.items()}
    summary["cold"]["datasets"] = samples["cold"][-1]["datasets"]
    cold, base, pandas = (summary[n]["seconds"] for n in ("cold", "duckdb_file_metadata", "pandas"))
    result: dict[str, Any] = {
        "shape": shape,
        "files": len(lake.paths),
        "datasets": samples["cold"][-1]["datasets"],
        "rounds": len(samples["cold"]),
        "lake_mb": sum(p.stat().st_size for p in lake.paths) / 2**20,
        "variants": summary,
        "ratios": {
            "cold_over_duckdb": cold / base,
            "cold_over_duckdb_per_round": _per_round(samples["cold"], samples["duckdb_file_metadata"]),
            "names_only_over_duckdb": summary["cold_names_only"]["seconds"] / base,
            "pandas_over_names_only": pandas / summary["cold_names_only"]["seconds"],
            "pandas_over_cold": pandas / cold,
            "rescan_over_cold": summary["rescan"]["seconds"] / cold,
            "rescan_over_cold_per_round": _per_round(samples["rescan"], samples["cold"]),
        },
    }
    if args.profile:
        out = RESULTS / f"discovery_profile_{shape}_{args.profile}.txt"
        result["profile"] = {"file": str(out.relative_to(REPO)), "variant": args.profile,
                             "cumulative_seconds": lake.profile(out, names_only=args.profile == "scan")}
    return result


def run_load(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    homes = {}
    template = template_record(workdir)
    env = child_env(workdir)
    for count in args.datasets:
        homes[count] = catalog_home(workdir, count, template)
    # Untimed: fills the bytecode cache, as any earlier use of the installation would have.
    smallest = homes[min(args.datasets)]
    load_child(smallest, env)
    if args.validate_repeat:
        validate_workspace(smallest, workdir / "warm_up_dagster", env)
    for count in args.datasets:
        runs = []
        for attempt in range(args.load_repeat):
            runs.append(load_child(homes[count], env))
            log.info("load %d datasets, run %d: %.2fs (import %.2f, definitions %.2f, asset graph %.2f)", count,
                     attempt + 1, runs[-1]["seconds"], runs[-1]["import"], runs[-1]["build_definitions"],
                     runs[-1]["asset_graph"])
        validations = []
        for attempt in range(args.validate_repeat):
            validations.append(validate_workspace(homes[count], workdir / f"records_{count}" / "dagster", env))
            log.info("dagster definitions validate, %d datasets, run %d: %.2fs", count, attempt + 1,
                     validations[-1]["seconds"])
        sizes[str(count)] = {
            **{part: _median(runs, part) for part in
               ("seconds", "import", "build_definitions", "asset_graph", "process_seconds")},
            "all_seconds": [r["seconds"] for r in runs],
            "assets": runs[-1]["assets"],
            "checks": runs[-1]["checks"],
            "validate_seconds": _median(validations) if validations else None,
        }
    small, large = str(min(args.datasets)), str(max(args.datasets))
    result: dict[str, Any] = {"sizes": sizes, "ratio": sizes[large]["seconds"] / sizes[small]["seconds"],
                              "small": small, "large": large}
    if args.profile:
        out = RESULTS / f"discovery_profile_load_{large}.txt"
        profile_load(homes[max(args.datasets)], out, env)
        result["profile_file"] = str(out.relative_to(REPO))
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    RESULTS.mkdir(exist_ok=True)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "repeat": args.repeat,
        "pandas_repeat": args.pandas_repeat,
        "code": code_state(),
        "lakes": {},
    }
    for shape in args.shapes:
        result["lakes"][shape] = run_lake(workdir, shape, args)
        save(result)  # a later failure keeps what was measured
    if not args.no_load:
        result["load"] = run_load(workdir, args)
        result["load_repeat"] = args.load_repeat
    result["machine"] = {"cpus": os.cpu_count(), "load_average_before": args.load_before,
                         "load_average_after": os.getloadavg()}
    return result


def save(result: dict[str, Any]) -> None:
    (RESULTS / "discovery_bench.json").write_text(json.dumps(result, indent=2, default=str))


def code_state() -> dict[str, Any]:
    """The commit measured and the files changed on top of it (other work in the same checkout)."""
    def git(*command: str) -> str:
        return subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True, check=True).stdout

    return {"head": git("rev-parse", "HEAD").strip(),
            "changed": [line[3:] for line in git("status", "--short", "--", "datacrew_resources",
                                                  "datacrew_assets").splitlines()]}


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"{r['date']}: {m['cpus']} CPUs, load average {m['load_average_before'][0]:.1f} before, "
        f"{m['load_average_after'][0]:.1f} after; medians of up to {r['repeat']} rounds "
        f"(pandas: {r['pandas_repeat']}); code: {r['code']['head'][:7]} plus "
        f"{len(r['code']['changed'])} uncommitted file(s).",
        "",
        "| lake | files | datasets | rounds | DuckDB `parquet_file_metadata` s | cold discovery s | rescan s "
        "| cold, PII by names only s | pandas s | cold / DuckDB | pandas / cold | rescan / cold "
        "| names only / DuckDB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shape, lake in r["lakes"].items():
        v, q = lake["variants"], lake["ratios"]
        lines.append(
            f"| {shape} | {lake['files']:,} | {lake['datasets']:,} | {lake['rounds']} "
            f"| {v['duckdb_file_metadata']['seconds']:.3f} | {v['cold']['seconds']:.3f} "
            f"| {v['rescan']['seconds']:.3f} | {v['cold_names_only']['seconds']:.3f} | {v['pandas']['seconds']:.3f} "
            f"| {q['cold_over_duckdb']:.1f} (per round {q['cold_over_duckdb_per_round']:.1f}) "
            f"| {q['pandas_over_cold']:.2f} | {q['rescan_over_cold']:.2f} (per round "
            f"{q['rescan_over_cold_per_round']:.2f}) | {q['names_only_over_duckdb']:.1f} |"
        )
    lines += ["", "| target | lake | measured | goal | met |", "|---|---|---|---|---|"]
    for shape, lake in r["lakes"].items():
        q = lake["ratios"]
        lines += [
            f"| cold discovery / DuckDB glob | {shape} | {q['cold_over_duckdb']:.1f} | <= 1.5 "
            f"| {_met(q['cold_over_duckdb'] <= TARGETS['cold_over_duckdb'])} |",
            f"| pandas per file / cold discovery | {shape} | {q['pandas_over_cold']:.2f} | >= 10 "
            f"| {_met(q['pandas_over_cold'] >= TARGETS['pandas_over_cold'])} |",
            f"| rescan / cold | {shape} | {q['rescan_over_cold']:.2f} | <= 0.2 "
            f"| {_met(q['rescan_over_cold'] <= TARGETS['rescan_over_cold'])} |",
        ]
    if "load" in r:
        load = r["load"]
        large = load["sizes"][load["large"]]
        lines += [
            f"| load, {int(load['large']):,} / {int(load['small']):,} datasets | | {load['ratio']:.2f} | <= 3 "
            f"| {_met(load['ratio'] <= TARGETS['load_ratio'])} |",
            f"| load, {int(load['large']):,} datasets | | {large['seconds']:.2f} s | < 10 s "
            f"| {_met(large['seconds'] < TARGETS['load_seconds'])} |",
            "",
            f"Code-location load, fresh interpreter, medians of {r['load_repeat']} runs:",
            "",
            "| datasets | assets | checks | import s | build_definitions s | resolve_asset_graph s | total s "
            "| process wall s | `dagster definitions validate` s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for count, size in load["sizes"].items():
            validate = f"{size['validate_seconds']:.2f}" if size["validate_seconds"] is not None else "-"
            lines.append(
                f"| {int(count):,} | {size['assets']:,} | {size['checks']:,} | {size['import']:.2f} "
                f"| {size['build_definitions']:.2f} | {size['asset_graph']:.2f} | {size['seconds']:.2f} "
                f"| {size['process_seconds']:.2f} | {validate} |"
            )
    for shape, lake in r["lakes"].items():
        if "profile" in lake:
            parts = ", ".join(f"{label} {seconds:.2f}s" for label, seconds in lake["profile"]["cumulative_seconds"].items())
            lines += ["", f"Profile ({lake['profile']['variant']}), cold discovery of the {shape} lake "
                          f"(cProfile, cumulative): {parts}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="parquet files per lake")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="lake layouts: wide, partitioned")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of DuckDB, cold and rescan; medians")
    parser.add_argument("--budget", type=float, default=240,
                        help="seconds after which a lake gets no further round (at least one)")
    parser.add_argument("--pandas-repeat", type=int, default=1, help="rounds of pandas over every file")
    parser.add_argument("--datasets", default="1000,10000", help="catalog sizes for the load")
    parser.add_argument("--load-repeat", type=int, default=3, help="load runs (fresh interpreters) per size")
    parser.add_argument("--validate-repeat", type=int, default=1,
                        help="`dagster definitions validate` runs per size (0 to skip)")
    parser.add_argument("--no-load", action="store_true", help="skip the code-location load")
    parser.add_argument("--profile", choices=("scan", "full"),
                        help="cProfile one cold discovery per lake (scan: PII by names only) and one load")
    parser.add_argument("--workdir", help="keep lakes and homes here (default: a temp dir, removed)")
    args = parser.parse_args()
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = sorted(set(args.shapes) - set(SHAPES))
    if unknown:
        parser.error(f"--shapes: unknown {unknown} (known: {', '.join(SHAPES)})")
    args.datasets = sorted({int(n) for n in args.datasets.split(",")})
    if args.files % PARTITIONS:
        parser.error(f"--files: must be a multiple of {PARTITIONS} (the partitioned lake's files per dataset)")
    log_to_stderr(log)
    args.load_before = os.getloadavg()
    result = run_in_workdir(args, run, prefix="datacrew-discovery-bench-")
    save(result)
    print(report(result))


if __name__ == "__main__":
    main()
