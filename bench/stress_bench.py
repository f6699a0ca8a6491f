"""Stress: N delegation requests submitted at once, launched by the gate as N concurrent runs.

One load, two storages: Dagster's instance, the catalog and the control plane (requests,
ledger, audit) all in PostgreSQL, or all in the SQLite default (`$DAGSTER_HOME/*.db`,
`state/catalog.sqlite`, `state/control.sqlite`). N threads call `Delegation.submit`
together; a loop evaluates the real `delegation_gate` sensor (`build_sensor_context`
over the instance, cursor carried) and launches every run request it returns as the
sensor daemon does: the run created in the instance during the tick (a run key already used
is skipped and counted), then executed at once in its own run-worker process (the
demo's `airports` transformation, in_process executor). The loop keeps ticking, so the
gate's reconciliation moves requests to running and succeeded, until every request is
final. A request launched twice shows as two runs carrying its id.

Measured per storage: runs per minute (requests / time from the first submit to the last
run's end), launch latency from a request's `created_at` to its run's start in the
instance (p50, p95), and every failure with its message (exceptions in submits, gate
ticks and run workers, failed runs' errors). The PostgreSQL figures are the baseline
for the SQLite ratios.

    python -m bench.stress_bench [--runs N] [--backends postgres sqlite] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dagster as dg
import psycopg
import yaml
from psycopg import sql

from dagster._core.definitions.job_base import InMemoryJob  # what a run worker executes
from dagster._core.execution.api import execute_run
from datacrew_assets.definitions import build_definitions
from datacrew_assets.delegation import GATE_SENSOR, REQUEST_TAG, RUN_KEY_TAG
from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import Home
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.delegation.store import DENIED, FAILED, SUCCEEDED
from datacrew_resources.demo import build_demo_sources
from datacrew_resources.demo_home import install_templates
from datacrew_resources.environment import prepare_environment

RESULTS = Path(__file__).parent / "results"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
# The tutorial's rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR) allows this request;
# its task type is pointed at the cheapest demo transformation (lake/airports -> csv).
REQUESTER, AGENT, TASK_TYPE, ASSET = "etl-architect-1", "etl-developer-1", "data_validation", "airports"
FACTS = {"stage_scope": True, "data_quality_threshold": 0.95}
RESOURCES = {"cpu": 2, "memory": 100}
# What a run worker imports, loaded once in the fork server (none of them starts a thread).
WORKER_PRELOAD = ["bench.stress_bench", "crewai", "datacrew_resources.crew.runner", "datacrew_resources.crew.tools"]
MATERIALIZED = dg.AssetKey(["transformed", ASSET])
FINAL = frozenset({SUCCEEDED, FAILED, DENIED})
TICK_PAUSE_SECONDS = 0.5
JOIN_GRACE_SECONDS = 30  # how long runs still going at the hang guard may take to finish
LOCKED = "database is locked"


@dataclass
class StressResult:
    backend: str
    runs_requested: int
    wall_seconds: float = 0.0
    runs_per_minute: float = 0.0
    latency_p50: float | None = None
    latency_p95: float | None = None
    request_states: dict[str, int] = field(default_factory=dict)
    runs_per_request: dict[str, int] = field(default_factory=dict)  # request id -> runs carrying it
    run_statuses: dict[str, int] = field(default_factory=dict)
    materializations: int = 0
    repeated_run_requests: int = 0  # run requests for a run key already used (skipped, as the daemon does)
    latencies: list[float] = field(default_factory=list)  # seconds from submit to run start
    failures: list[str] = field(default_factory=list)  # one line each: where, and the message
    timed_out: bool = False

    @property
    def locked(self) -> int:
        return sum(LOCKED in f for f in self.failures)

    def summary(self) -> dict:
        data = asdict(self)
        data["runs_per_request"] = dict(Counter(self.runs_per_request.values()))  # how many launched once, twice
        del data["latencies"]
        data["locked"] = self.locked
        data["failures"] = self.failures[:20]
        data["failure_count"] = len(self.failures)
        return data


def create_schema(database_url: str, schema: str) -> str:
    """`database_url` with its search_path set to `schema`, created now."""
    with psycopg.connect(database_url, autocommit=True) as con:
        con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in database_url else "?"
    return f"{database_url}{separator}options=-csearch_path%3D{schema}"


def stress_home(root: Path, sources: Path, runs: int, database_url: str | None) -> Home:
    """The demo home with capacity for `runs` at once, the in_process executor and the task
    type on `airports`; with `database_url`, Dagster's storage in that (fresh) database and the
    catalog and control plane in its schema `datacrew`. `$DAGSTER_HOME` must point inside."""
    home = Home(root)
    install_templates(home)
    (root / "sources").symlink_to(sources, target_is_directory=True)
    data = yaml.safe_load(home.config_path.read_text())
    for agent in data["agents"]:
        if agent["id"] == AGENT:
            agent["capacity"] = runs
    data["task_types"][TASK_TYPE] = {"assets": [ASSET]}
    data["schedules"] = []
    data["executor"] = {"kind": "in_process"}
    data["gate"] = {"interval_seconds": 1}
    if database_url:
        control = create_schema(database_url, "datacrew")
        data["instance"] = {"storage_url": database_url, "catalog_url": control}
        data["gate"]["control_plane_url"] = control
    home.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    prepare_environment(home)
    discover(home, home.load_config())
    return home


def submit_all(home: Home, runs: int) -> tuple[list[str], list[str]]:
    """`runs` threads submit one request each, released together: (request ids, failures)."""
    start = threading.Barrier(runs)
    ids: list[str] = []
    failures: list[str] = []

    def submit(number: int) -> None:
        delegation = Delegation(home)
        start.wait()
        try:
            ids.append(delegation.submit(requester=REQUESTER, target=AGENT, task_type=TASK_TYPE, facts=FACTS,
                                         resources=RESOURCES, origin_key=f"stress:{number}").id)
        except Exception as e:  # the failure is the measurement
            failures.append(f"submit {number}: {type(e).__name__}: {first_line(e)}")

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids, failures


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


class Launcher:
    """Launches run requests the way the sensor daemon does: the run is created in the instance
    during the tick, unless a run with its run key exists (then the request is skipped), and
    executed at once in its own process, a run worker, as the daemon's run launcher does.
    Workers come from a fork server: a fresh interpreter that has imported Dagster, datacrew
    and CrewAI once and forks a worker per run, so N runs neither import N times nor hold N
    private copies of those modules. Forking this process instead copies the locks its other
    threads hold (a test session has many) and the children hung on them; threads cannot
    stand in either, since Dagster configures `logging` per run, which deadlocks runs sharing
    one process. Every error comes back on a queue."""

    def __init__(self, home: Home, defs: dg.Definitions, instance: dg.DagsterInstance):
        self.home, self.defs, self.instance = home, defs, instance
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(WORKER_PRELOAD)
        self.errors = self.context.SimpleQueue()
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.skipped = 0  # run requests whose run key was already used

    def launch(self, request: dg.RunRequest) -> None:
        used = self.instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}), limit=1)
        if used:
            self.skipped += 1
            return
        job = self.defs.resolve_job_def(request.job_name)
        run = self.instance.create_run_for_job(job, tags={**request.tags, RUN_KEY_TAG: request.run_key},
                                               status=dg.DagsterRunStatus.NOT_STARTED)
        process = self.context.Process(
            target=run_worker,
            args=(str(self.home.root), request.job_name, run.run_id, dict(os.environ), self.errors),
            name=f"run-{request.run_key}",
        )
        self.processes.append(process)
        process.start()

    def busy(self) -> bool:
        return any(process.is_alive() for process in self.processes)

    def join(self, deadline: float) -> list[str]:
        """Wait for every run until the deadline, then end the ones still running (a hung run
        must fail the measurement, not hang it); the errors the runs sent, and every run
        process that died or was ended."""
        failures = []
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
                failures.append(f"{process.name}: still running at the hang guard, killed")
            elif process.exitcode:
                failures.append(f"{process.name}: process exited with {process.exitcode}")
        while not self.errors.empty():
            failures.append(self.errors.get())
        return failures


def run_worker(home_root: str, job_name: str, run_id: str, environment: dict[str, str],
               errors: multiprocessing.SimpleQueue) -> None:
    """One run in its own process: the home's definitions and instance, loaded as a run worker loads them."""
    # A fork server's children inherit its environment from when it started, not the launcher's now.
    os.environ.clear()
    os.environ.update(environment)
    try:
        home = Home(Path(home_root))
        job = build_definitions(home).resolve_job_def(job_name)
        with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
            execute_run(InMemoryJob(job), instance.get_run_by_id(run_id), instance)
    except Exception as e:  # storage errors outside a step land here
        errors.put(f"run {run_id}: {type(e).__name__}: {first_line(e)}")


def drive_gate(home: Home, instance: dg.DagsterInstance, ids: list[str],
               deadline: float) -> tuple[list[str], bool, int]:
    """Tick the gate sensor until every request is final and no run is in flight:
    (failures, timed out, repeated run requests)."""
    defs = build_definitions(home)
    sensor = defs.resolve_sensor_def(GATE_SENSOR)
    store = Delegation(home).store
    launcher = Launcher(home, defs, instance)
    failures: list[str] = []
    cursor: str | None = None
    timed_out = False
    try:
        while True:
            try:
                result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor,
                                                                      definitions=defs))
                cursor = result.cursor
                for request in result.run_requests:
                    launcher.launch(request)
                states = [store.require(rid).state for rid in ids]
            except Exception as e:  # a gate tick that fails is retried, as the daemon would
                failures.append(f"gate tick: {type(e).__name__}: {first_line(e)}")
                states = []
            if states and all(s in FINAL for s in states) and not launcher.busy():
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(TICK_PAUSE_SECONDS)
    finally:
        failures += launcher.join(max(deadline, time.monotonic()) + JOIN_GRACE_SECONDS)
    return failures, timed_out, launcher.skipped


def run_errors(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The messages of a failed run's step and run failures."""
    messages = []
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.event_type in (dg.DagsterEventType.STEP_FAILURE,
                                                     dg.DagsterEventType.RUN_FAILURE):
            error = getattr(event.event_specific_data, "error", None)
            messages.append(first_line(Exception(error.message if error else record.event_log_entry.message)))
    return messages


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(home: Home, backend: str, runs: int, timeout_seconds: float) -> StressResult:
    """Submit `runs` requests at once, let the gate launch them, and read back what happened."""
    result = StressResult(backend, runs)
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        began = time.time()
        ids, result.failures = submit_all(home, runs)
        deadline = time.monotonic() + timeout_seconds
        failures, result.timed_out, result.repeated_run_requests = drive_gate(home, instance, ids, deadline)
        result.failures += failures
        store = Delegation(home).store
        requests = [store.require(rid) for rid in ids]
        result.request_states = dict(Counter(r.state for r in requests))
        records = instance.get_run_records(filters=dg.RunsFilter(tags={REQUEST_TAG: ids}))
        result.runs_per_request = dict(Counter(r.dagster_run.tags[REQUEST_TAG] for r in records))
        result.run_statuses = dict(Counter(r.dagster_run.status.value for r in records))
        for record in records:
            if record.dagster_run.status != dg.DagsterRunStatus.SUCCESS:
                result.failures += [f"run {record.dagster_run.run_id}: {m}"
                                    for m in run_errors(instance, record.dagster_run.run_id)]
        result.materializations = len(instance.fetch_materializations(MATERIALIZED, limit=10 * runs).records)
        started = {r.dagster_run.tags[REQUEST_TAG]: r.start_time for r in records if r.start_time}
        result.latencies = [started[r.id] - r.created_at.timestamp() for r in requests if r.id in started]
        ends = [r.end_time for r in records if r.end_time]
        result.wall_seconds = (max(ends) if ends else time.time()) - began
        finished = result.request_states.get(SUCCEEDED, 0)
        result.runs_per_minute = 60 * finished / result.wall_seconds if result.wall_seconds else 0.0
        result.latency_p50 = percentile(result.latencies, 0.50)
        result.latency_p95 = percentile(result.latencies, 0.95)
    return result


def ratio(value: float | None, baseline: float | None) -> float | None:
    return round(value / baseline, 2) if value and baseline else None


def run_backend(backend: str, runs: int, postgres: str, sources: Path, timeout_seconds: float) -> StressResult:
    """One measurement in a fresh home (and, for PostgreSQL, a fresh database, dropped after)."""
    with tempfile.TemporaryDirectory(prefix=f"stress-{backend}-") as tmp:
        root = Path(tmp)
        os.environ["DAGSTER_HOME"] = str(root / "dagster")
        database = None
        if backend == "postgres":
            name = f"dc_stress_{uuid.uuid4().hex}"
            with psycopg.connect(postgres, autocommit=True) as con:
                con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            base, _, query = postgres.partition("?")
            database = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        try:
            home = stress_home(root, sources, runs, database)
            return measure(home, backend, runs, timeout_seconds)
        finally:
            if database:
                with psycopg.connect(postgres, autocommit=True) as con:
                    con.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--backends", nargs="+", default=["postgres", "sqlite"], choices=["postgres", "sqlite"])
    parser.add_argument("--postgres", default=os.environ.get("DATACREW_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--timeout", type=float, default=600, help="seconds per backend before giving up")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="stress-sources-") as tmp:
        build_demo_sources(Path(tmp))
        results = {b: run_backend(b, args.runs, args.postgres, Path(tmp) / "sources", args.timeout)
                   for b in args.backends}
    report = {"runs": args.runs, "cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
              "results": {b: r.summary() for b, r in results.items()}}
    base = results.get("postgres")
    if base and "sqlite" in results and base.runs_per_minute:
        sqlite = results["sqlite"]
        report["sqlite_vs_postgres"] = {
            "runs_per_minute": ratio(sqlite.runs_per_minute, base.runs_per_minute),
            "latency_p50": ratio(sqlite.latency_p50, base.latency_p50),
            "latency_p95": ratio(sqlite.latency_p95, base.latency_p95),
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"stress_bench_{args.runs}.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
