"""One run of the transformation job, its steps spread over two Celery workers on the RabbitMQ
broker of the machine. Each worker is its own process group in its own empty working directory,
started from the same `executor:` block the runs use; the run is launched by the `dagster` CLI
from a third directory. So whatever a step reads (definitions, specs, catalog, sources, outputs)
it reaches through `DATACREW_HOME`, `DAGSTER_HOME` and the files there, nothing process-local."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import celery
import dagster as dg
import duckdb
import kombu
import pytest
import yaml

from datacrew_assets.jobs import TRANSFORM_JOB
from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import HOME_ENV, Home
from datacrew_resources.environment import prepare_environment
from datacrew_resources.executors import celery_run_config

from ..crew.small_home import write_flights

BIN = Path(sys.executable).parent
FLIGHTS = [
    (1, "AA", "JFK", 5.0), (2, "AA", "LGA", 25.0), (3, "UA", "EWR", -3.0),
    (4, "UA", "EWR", None), (5, "DL", "JFK", 40.0), (6, "DL", "LGA", 12.0),
]
AIRPORTS = [("JFK", "John F Kennedy Intl"), ("LGA", "La Guardia"), ("EWR", "Newark Liberty Intl")]
SPECS = [
    {
        "name": "carrier_delays", "type": "aggregation", "sources": ["lake/flights"],
        "rules": [{"filter": "dep_delay IS NOT NULL"}, {"group_by": ["carrier"]},
                  {"aggregate": {"flights": "count(*)", "avg_dep_delay": "avg(dep_delay)"}}],
        "target_schema": {"columns": [
            {"name": "carrier", "type": "VARCHAR", "nullable": False, "primary_key": True},
            {"name": "flights", "type": "BIGINT", "min": 0},
            {"name": "avg_dep_delay", "type": "DOUBLE"}]},
    },
    {
        "name": "late_flights", "type": "cleansing", "sources": ["lake/flights"],
        "rules": [{"filter": "dep_delay > 15"}, {"select": ["id", "carrier", "dep_delay"]}],
        "target_schema": {"columns": [
            {"name": "id", "type": "INTEGER", "nullable": False, "primary_key": True},
            {"name": "carrier", "type": "VARCHAR", "nullable": False},
            {"name": "dep_delay", "type": "DOUBLE"}]},
    },
    {
        "name": "airport_names", "type": "etl", "sources": ["lake/airports"],
        "rules": [{"rename": {"faa": "code"}}, {"select": ["code", "name"]}],
        "target_schema": {"columns": [
            {"name": "code", "type": "VARCHAR", "nullable": False, "primary_key": True},
            {"name": "name", "type": "VARCHAR", "nullable": False}]},
    },
]


def celery_home(root: Path, *, broker: str, queue: str) -> Home:
    """Two lake datasets with declared checks, three independent transformations, celery executor."""
    lake = root / "sources" / "lake"
    write_flights(lake, FLIGHTS)
    with (lake / "airports.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("faa", "name"), *AIRPORTS])
    (root / "specs").mkdir()
    for spec in SPECS:
        (root / "specs" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    home = Home(root)
    home.config_path.write_text(yaml.safe_dump({
        "sources": [{"name": "lake", "type": "data_lake", "uri": "sources/lake", "owner": "team:flight-ops"}],
        "datasets": {"lake/flights": {"primary_key": ["id"]}, "lake/airports": {"primary_key": ["faa"]}},
        "executor": {"kind": "celery", "broker": broker, "queue": queue},
    }, sort_keys=False))
    prepare_environment(home)
    discover(home, home.load_config())
    return home


@contextmanager
def celery_workers(names: list[str], *, config_file: Path, queue: str, root: Path) -> Iterator[list[subprocess.Popen]]:
    """`dagster-celery worker start` once per name, one task at a time each, every worker in its
    own process group and working directory; all stopped (SIGTERM, then SIGKILL) afterwards."""
    processes: list[subprocess.Popen] = []
    try:
        for name in names:
            workdir = root / name
            workdir.mkdir()
            with (workdir / "worker.log").open("wb") as log:
                processes.append(subprocess.Popen(
                    [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                     "-y", str(config_file), "-q", queue, "-n", name,
                     "--", "--concurrency=1", "--without-mingle", "--without-gossip"],
                    cwd=workdir, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                ))
        yield processes
    finally:
        for process in processes:
            _stop_group(process)


def _env() -> dict[str, str]:
    """This process's environment (DATACREW_HOME, DAGSTER_HOME, HOME) with the venv's scripts on PATH:
    `dagster-celery worker start` runs `celery` from PATH."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the worker's group (celery finishes its task and leaves), SIGKILL what is left."""
    group = process.pid
    _signal_group(group, signal.SIGTERM)
    process.wait()  # the `dagster-celery` parent: reaped, so it no longer counts in the group
    for _ in range(100):
        if not _signal_group(group, 0):
            return
        time.sleep(0.1)
    _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, sig: int) -> bool:
    try:
        os.killpg(group, sig)
        return True
    except ProcessLookupError:
        return False


def wait_until_ready(broker: str, names: list[str], processes: list[subprocess.Popen], root: Path) -> None:
    """Until every named worker answers a ping (each then consumes the queue); a worker that
    exits first fails the test with the end of its log."""
    answered: set[str] = set()
    with celery.Celery(broker=broker) as app:
        while answered != set(names):
            for name, process in zip(names, processes):
                if process.poll() is not None:
                    log = (root / name / "worker.log").read_text(errors="replace")
                    pytest.fail(f"worker {name} exited with {process.returncode}:\n{log[-3000:]}")
            replies = app.control.ping(timeout=1.0)
            answered = {node.split("@")[0] for reply in replies for node in reply} & set(names)


@pytest.fixture
def queue(rabbitmq_url: str) -> Iterator[str]:
    """A queue of this test's own, so other runs on the broker never take its steps; deleted afterwards."""
    name = f"datacrew-test-{uuid.uuid4().hex}"
    yield name
    with kombu.Connection(rabbitmq_url) as connection:
        kombu.Queue(name, channel=connection.default_channel).delete()


def test_one_run_spreads_its_steps_over_two_celery_workers(tmp_path, monkeypatch, rabbitmq_url, queue):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = celery_home(tmp_path / "home", broker=rabbitmq_url, queue=queue)
    monkeypatch.setenv(HOME_ENV, str(home.root))
    worker_config = tmp_path / "worker.yaml"
    worker_config.write_text(yaml.safe_dump({"execution": {"config": celery_run_config(home.load_config().executor)}}))
    names = [f"w1-{queue}", f"w2-{queue}"]
    # The instance's SQLite tables exist before its workers start: two first openings at once race.
    dg.DagsterInstance.from_config(str(tmp_path / "dagster")).dispose()
    launcher = tmp_path / "launcher"
    launcher.mkdir()

    with celery_workers(names, config_file=worker_config, queue=queue, root=tmp_path) as workers:
        wait_until_ready(rabbitmq_url, names, workers, tmp_path)
        launched = subprocess.run(
            [str(BIN / "dagster"), "job", "execute", "-m", "datacrew_assets.definitions", "-a", "defs",
             "-j", TRANSFORM_JOB],
            cwd=launcher, env=_env(), capture_output=True, text=True,
        )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]

    [run_pid] = {e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START}
    step_pids = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
    step_workers = {e.step_key: e.engine_event_data.metadata["Celery worker"].value
                    for e in events if e.event_type == dg.DagsterEventType.ENGINE_EVENT
                    and "Celery worker" in e.engine_event_data.metadata}
    transformations = {f"transformed__{spec['name']}" for spec in SPECS}
    # The two dataset check ops (one per input) and the three transformations, each in a worker.
    assert len(step_pids) == 5 and transformations <= set(step_pids)
    assert set(step_workers) == set(step_pids)
    assert {w.split("@")[0] for w in step_workers.values()} == set(names)
    assert len(set(step_pids.values())) >= 2 and run_pid not in step_pids.values()

    materialized = {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
                    for e in events if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION}
    assert {k: m["dagster/row_count"].value for k, m in materialized.items()} == {
        "transformed/carrier_delays": 3, "transformed/late_flights": 2, "transformed/airport_names": 3}
    checks = [e.event_specific_data for e in events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert checks and all(c.passed for c in checks)
    assert {c.asset_key.to_user_string() for c in checks} >= {"lake/flights", "lake/airports", *materialized}

    # Nothing goes from step to step through Dagster's IO manager, whose files would sit under
    # one machine's DAGSTER_HOME: every output is a file in the home, written by a worker.
    assert not {dg.DagsterEventType.HANDLED_OUTPUT, dg.DagsterEventType.LOADED_INPUT} & {e.event_type for e in events}
    outputs = home.outputs_dir / "transformed"
    with duckdb.connect() as con:
        def rows(name: str, order: str) -> list[tuple]:
            return con.read_parquet(str(outputs / f"{name}.parquet")).order(order).fetchall()

        assert rows("carrier_delays", "carrier") == [("AA", 2, 15.0), ("DL", 2, 26.0), ("UA", 1, -3.0)]
        assert rows("late_flights", "id") == [(2, "AA", 25.0), (5, "DL", 40.0)]
        assert rows("airport_names", "code") == sorted(AIRPORTS)
