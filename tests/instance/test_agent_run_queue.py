"""The roster's capacity, enforced by Dagster's own run queue: under a real `dagster-daemon` on
a PostgreSQL instance, runs for one agent beyond its capacity wait QUEUED until slots free up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from datacrew_resources.config import Home
from datacrew_resources.environment import prepare_environment
from datacrew_resources.instance import AGENT_TAG

from ..daemon_wait import wait_for

REPO = Path(__file__).resolve().parents[2]
CAPACITY = 2
RUNS = CAPACITY + 2
# What the queued-run daemon logs on each pass over a non-empty queue.
QUEUE_PASS = "checking tag concurrency limits for queued runs"


def config(storage_url: str) -> str:
    return yaml.safe_dump({
        "agents": [{"id": "etl-developer-1", "authority": "PIPELINE_COLLABORATOR", "capacity": CAPACITY},
                   {"id": "etl-architect-1", "authority": "STAGE_COORDINATOR", "capacity": 8}],
        "instance": {"storage_url": storage_url, "max_concurrent_runs": 10},
    })


def statuses(instance: dg.DagsterInstance) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(job_name="held")):
        counts[run.status.value] = counts.get(run.status.value, 0) + 1
    return counts


def most_at_once(records: list[dg.RunRecord]) -> int:
    """The largest number of runs that were in progress at the same moment."""
    edges = sorted([(r.start_time, 1) for r in records] + [(r.end_time, -1) for r in records],
                   key=lambda edge: (edge[0], edge[1]))  # an end before a start at the same instant
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.slow
def test_runs_beyond_an_agents_capacity_stay_queued(tmp_path, postgres_database, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = Home(tmp_path)
    home.config_path.write_text(config(postgres_database))
    prepare_environment(home)  # the instance file, with the agent's capacity as its tag limit
    release = tmp_path / "release"
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_file:\n      relative_path: {REPO / 'tests/instance/held_runs.py'}\n"
                         f"      working_directory: {REPO}\n")
    env = {**os.environ, "DATACREW_HOME": str(home.root), "DAGSTER_HOME": str(home.dagster_home),
           "DATACREW_TEST_RELEASE": str(release), "DATACREW_TEST_AGENT": "etl-developer-1",
           "DATACREW_TEST_RUNS": str(RUNS)}
    log = tmp_path / "daemon.log"
    daemon_bin = Path(sys.executable).with_name("dagster-daemon")
    with log.open("w") as out:
        # Its own process group, so the daemon, its code server and the run workers all go at the end.
        daemon = subprocess.Popen([str(daemon_bin), "run", "-w", str(workspace)], cwd=tmp_path, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with dg.DagsterInstance.get() as instance:
            held = {"STARTED": CAPACITY, "QUEUED": RUNS - CAPACITY}
            wait_for(lambda: statuses(instance) == held, f"{held}", daemon, log, interval=0.5)
            # Two more passes of the queue over the waiting runs launch none of them.
            passes = log.read_text().count(QUEUE_PASS)
            wait_for(lambda: log.read_text().count(QUEUE_PASS) >= passes + 2, "two queue passes", daemon, log, interval=0.5)
            assert statuses(instance) == held

            release.touch()
            wait_for(lambda: statuses(instance) == {"SUCCESS": RUNS}, f"{RUNS} runs to succeed", daemon, log, interval=0.5)
            records = instance.get_run_records(filters=dg.RunsFilter(job_name="held"))
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()

    assert {r.dagster_run.tags[AGENT_TAG] for r in records} == {"etl-developer-1"}
    assert most_at_once(records) == CAPACITY
