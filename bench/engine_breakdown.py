"""Where a datacrew materialization's time goes, step by step, outside Dagster and the crew.

    python -m bench.engine_breakdown [--rows 10000000] [--repeat 3] [--workdir DIR]

Runs each step the crew's tools and the asset body perform, on the homes of
`bench.transform_bench` (same synthetic data and specs), timing them one by one, as a
crew run does them: in one engine session (`Engine.session`), whose sandbox the first
step opens. Loading the home and building the engine; opening the session's sandbox;
each `inspect` (and its sample-rows query; the row count is the catalog's while the
file is unchanged); `compile`; `execute` whole, and its parts measured apart in a
sandbox of their own (SQL guard, the COPY to a temp file, the contract check on it, the
preview read, fsync and rename); `validate_output` (execute's report, reused) and the
preview (execute's). Then the Dagster quality check's metrics scan, and what the same
steps cost with one sandbox per step (the engine without a session). Beside them: the
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
from datacrew_resources.engine import PREVIEW_ROWS
from datacrew_resources.engine.sandbox import open_sandbox
from datacrew_resources.engine.schema_check import check_output, read_parquet
from datacrew_resources.engine.sql_guard import check_query
from datacrew_resources.engine.writer import copy_statement, fsync, temp_path_for
from datacrew_resources.quality import measure, parquet_table
from datacrew_resources.source_refs import build_engine

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
    output = home.output_path(spec.asset_key)
    output.parent.mkdir(parents=True, exist_ok=True)
    refs = engine.sources

    # The crew run's steps, in one session.
    with engine.session(spec, output) as session:
        def open_sandbox_once() -> None:
            with session.connection([]):
                pass

        timed("session: open its sandbox (once per run)", open_sandbox_once)
        for key in spec.sources:
            ref = refs[key]
            counted = "catalog's, file unchanged" if ref.recorded_rows() is not None else "count(*)"
            timed(f"inspect {key} (row count: {counted})", lambda: session.inspect(key))
            with session.connection([ref]) as con:
                timed(f"&nbsp; of which sample rows", lambda: con.execute(f'SELECT * FROM "{key}" LIMIT 5').fetchall())
        plan = timed("compile (sqlglot + bind on empty tables)", session.compile)
        result = timed("execute (whole)", lambda: session.execute(plan))
        timed("validate_output (execute's report, file unchanged)", lambda: session.validate_output(result))
        assert result.preview is not None  # the asset's preview comes with the result

    # execute's parts, in a sandbox of their own.
    query = timed("execute parts: SQL guard", lambda: check_query(plan.sql, tables=plan.source_keys, field="plan.sql"))
    with open_sandbox([refs[k] for k in plan.source_keys], allowed_dirs=[output.parent],
                      temp_dir=home.tmp_dir, memory_limit=config.engine.memory_limit,
                      threads=config.engine.threads) as con:
        temp = temp_path_for(output)
        timed("execute parts: COPY to temp file", lambda: con.execute(copy_statement(query, temp)).fetchall())
        timed("execute parts: contract check (check_output)", lambda: check_output(con, temp, spec.target_schema))
        timed("execute parts: preview read", lambda: con.execute(
            f"SELECT * FROM ({read_parquet(temp).sql()}) LIMIT {PREVIEW_ROWS}").fetchall())
        timed("execute parts: fsync + rename + fsync dir",
              lambda: (fsync(temp), os.replace(temp, output), fsync(output.parent)))

    def quality() -> None:
        with duckdb.connect(config={"memory_limit": config.engine.memory_limit,
                                    "threads": config.engine.threads}) as c:
            measure(c, spec.target_schema, parquet_table(output))

    timed("quality-check step: metrics scan", quality)

    # The same steps with one sandbox per step, as before sessions.
    for key in spec.sources:
        timed("one sandbox per step: inspect x2", lambda: engine.inspect(key))
    timed("one sandbox per step: execute", lambda: engine.execute(spec, plan, output))
    timed("one sandbox per step: validate_output (reads the file)", lambda: engine.validate_output(spec, output))
    timed("one sandbox per step: preview read", lambda: engine.preview_output(spec, output))

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
