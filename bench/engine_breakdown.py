"""Where a datacrew materialization's time goes, step by step, outside Dagster and the crew.

    python -m bench.engine_breakdown [--rows 10000000] [--repeat 3] [--workdir DIR]

Runs each step the crew's tools and the asset body perform, on the homes of
`bench.transform_bench` (same synthetic data and specs), timing them one by one:
loading the home and building the engine, each `inspect` (sandbox, `count(*)`, sample
rows), `compile`, and `execute` split into sandbox setup, SQL guard, the COPY to a
temp file, the contract check on it, fsync and rename; then `validate_output`, the
asset's preview read and the Dagster quality check's metrics scan. Beside them: the
raw COPY in a plain connection and the same COPY inside a locked sandbox, so the
sandbox's own effect on query speed is visible. Medians of `--repeat`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from datacrew_resources.config import Home
from datacrew_resources.engine.sandbox import open_sandbox
from datacrew_resources.engine.schema_check import check_output
from datacrew_resources.engine.sql_guard import check_query
from datacrew_resources.engine.writer import copy_statement, fsync, temp_path_for
from datacrew_resources.quality import measure, parquet_table
from datacrew_resources.source_refs import build_engine, source_refs

from .synthetic_flights import AIRCRAFT_UTILISATION, CARRIER_MONTH, make_home, write_flights, write_warehouse
from .transform_bench import compile_raw, run_raw


def breakdown(home: Home, name: str, out_dir: Path) -> dict[str, float]:
    """One pass over every step; seconds per step."""
    times: dict[str, float] = {}

    def timed(label: str, step: Callable[[], object]) -> object:
        started = time.perf_counter()
        value = step()
        times[label] = times.get(label, 0.0) + time.perf_counter() - started
        return value

    config = timed("load home + specs", home.load_config)
    specs = timed("load home + specs", lambda: home.load_specs(config))
    engine = timed("build engine (catalog read)", lambda: build_engine(home, config, specs))
    spec = next(l.spec for l in specs if l.spec.name == name)
    refs = source_refs(home, specs)
    for key in spec.sources:
        ref = refs[key]
        sandbox = open_sandbox([ref], allowed_dirs=[], temp_dir=home.tmp_dir,
                               memory_limit=config.engine.memory_limit, threads=config.engine.threads)
        con = timed(f"inspect {key}: open sandbox + view", sandbox.__enter__)
        view = f'"{key}"'
        timed(f"inspect {key}: count(*)", lambda: con.execute(f"SELECT count(*) FROM {view}").fetchall())
        timed(f"inspect {key}: sample rows", lambda: con.execute(f"SELECT * FROM {view} LIMIT 5").fetchall())
        timed(f"inspect {key}: open sandbox + view", lambda: sandbox.__exit__(None, None, None))
        timed(f"inspect {key}: whole tool call", lambda: engine.inspect(key))
    plan = timed("compile (sqlglot + bind on empty tables)", lambda: engine.compile(spec))
    output = home.output_path(spec.asset_key)
    output.parent.mkdir(parents=True, exist_ok=True)
    query = timed("execute: SQL guard", lambda: check_query(plan.sql, tables=plan.source_keys, field="plan.sql"))
    sandbox = open_sandbox([refs[k] for k in plan.source_keys], allowed_dirs=[output.parent],
                           temp_dir=home.tmp_dir, memory_limit=config.engine.memory_limit,
                           threads=config.engine.threads)
    con = timed("execute: open sandbox + views", sandbox.__enter__)
    temp = temp_path_for(output)
    timed("execute: COPY to temp file", lambda: con.execute(copy_statement(query, temp)).fetchall())
    timed("execute: contract check (check_output)", lambda: check_output(con, temp, spec.target_schema))
    timed("execute: fsync + rename + fsync dir", lambda: (fsync(temp), os.replace(temp, output), fsync(output.parent)))
    timed("execute: open sandbox + views", lambda: sandbox.__exit__(None, None, None))
    timed("execute: whole engine.execute", lambda: engine.execute(spec, plan, output))
    timed("validate_output (new sandbox + check_output again)", lambda: engine.validate_output(spec, output))

    def preview() -> None:
        with duckdb.connect() as c:
            c.execute("SELECT * FROM read_parquet(?) LIMIT 10", [str(output)]).fetchall()
            c.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(output)]).fetchall()

    timed("asset body: preview read", preview)

    def quality() -> None:
        with duckdb.connect(config={"memory_limit": config.engine.memory_limit,
                                    "threads": config.engine.threads}) as c:
            measure(c, spec.target_schema, parquet_table(output))

    timed("quality-check step: metrics scan", quality)
    raw = compile_raw(home, name)
    times["raw: COPY in a plain connection"] = run_raw(raw, out_dir / "raw.parquet", home.tmp_dir)["seconds"]
    with open_sandbox(list(raw.views), allowed_dirs=[out_dir], temp_dir=home.tmp_dir,
                      memory_limit=raw.memory_limit, threads=raw.threads) as con:
        started = time.perf_counter()
        con.execute(f"COPY ({raw.sql}) TO '{out_dir / 'sandboxed.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
        times["raw: same COPY inside the locked sandbox"] = time.perf_counter() - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", help="reuse/keep data here (default: a temp dir, removed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="datacrew-breakdown-") as tmp:
        work = Path(args.workdir or tmp)
        flights = work / "data" / "lake" / "flights.parquet"
        if not flights.exists():
            write_flights(flights, args.rows)
        warehouse = work / "data" / "warehouse.duckdb"
        if not warehouse.exists():
            write_warehouse(warehouse)
        home = make_home(work / "homes" / "breakdown", lake=flights.parent, warehouse=warehouse, memory_limit="4GB")
        for name in (CARRIER_MONTH["name"], AIRCRAFT_UTILISATION["name"]):
            breakdown(home, name, work)  # warm-up
            runs = [breakdown(home, name, work) for _ in range(args.repeat)]
            print(f"\n### {name}, {args.rows:,} rows (median of {args.repeat})\n")
            print("| step | seconds |\n|---|---|")
            for label in runs[0]:
                print(f"| {label} | {statistics.median(r[label] for r in runs):.4f} |")


if __name__ == "__main__":
    main()
