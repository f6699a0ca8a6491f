"""The gate under a real `dagster-daemon`: allowed work runs exactly once, the rest never runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from datacrew_resources.delegation.service import Delegation

from ..daemon_wait import wait_for
from .delegation_helpers import edit_config, submit_coordinated

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_daemon_launches_allowed_requests_once_and_the_ledger_closes_them(home, tmp_path):
    edit_config(home, gate={"interval_seconds": 1})
    allowed = submit_coordinated(home)
    escalated = submit_coordinated(home, facts={"stage_scope": True, "data_quality_threshold": 0.1})
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_module:\n      module_name: datacrew_assets.definitions\n"
                         f"      working_directory: {REPO}\n")
    log = tmp_path / "daemon.log"
    env = {**os.environ, "DATACREW_HOME": str(home.root), "DAGSTER_HOME": str(home.dagster_home)}
    daemon_bin = Path(sys.executable).with_name("dagster-daemon")
    with log.open("w") as out:
        # Its own process group: the daemon ignores SIGTERM for a while, so the group is killed.
        daemon = subprocess.Popen([str(daemon_bin), "run", "-w", str(workspace)], cwd=tmp_path, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        store = Delegation(home).store
        done = wait_for(lambda: store.require(allowed.id).state in ("succeeded", "failed") and
                        store.require(allowed.id), "the allowed request to finish", daemon, log)
        assert done.state == "succeeded", log.read_text()[-3000:]
        # A few more gate ticks must not launch it again.
        time.sleep(5)
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()

    instance = dg.DagsterInstance.get()  # DAGSTER_HOME is the home's, set by the fixture
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"datacrew/request": allowed.id}))
    assert [(r.job_name, r.status) for r in runs] == [("task_data_validation", dg.DagsterRunStatus.SUCCESS)]
    assert runs[0].tags["dagster/run_key"] == allowed.id
    assert runs[0].tags["datacrew/agent"] == "etl-developer-1"
    assert done.run_id == runs[0].run_id
    assert instance.get_runs(filters=dg.RunsFilter(tags={"datacrew/request": escalated.id})) == []
    assert store.require(escalated.id).state == "escalated"
