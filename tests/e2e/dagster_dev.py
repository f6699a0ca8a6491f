"""`dagster dev` (webserver + daemon) over a home, in its own process group, killed as a whole."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOCATION = "datacrew"  # workspace.yaml's location name
REPOSITORY = "__repository__"  # what Dagster calls the repository of `@dg.definitions`
# A hang guard for every wait below, not a speed target: loading the code location on a
# busy two-core machine takes most of a minute, a scheduled tick up to ninety seconds.
DEADLINE_SECONDS = 300
# `dagster dev` shuts its children down on SIGTERM, slowly; after this the group is killed.
TERM_GRACE_SECONDS = 10


class PlatformDown(AssertionError):
    """dagster dev exited or never answered; the message ends with the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DagsterDev:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def check_alive(self, waiting_for: str) -> None:
        if self.process.poll() is not None:
            raise PlatformDown(f"dagster dev exited ({self.process.returncode}) while waiting for {waiting_for}; "
                               f"log {self.log}:\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of one GraphQL request; GraphQL errors raise with the query's first line."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.load(response)
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors for {query.strip().splitlines()[0]}: {payload['errors']}")
        return payload["data"]

    def wait_for(self, condition, what: str):
        """Poll `condition()` until it returns something truthy; fail with the log when dagster dev
        exits or the hang guard runs out."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            self.check_alive(what)
            found = condition()
            if found:
                return found
            time.sleep(1)
        raise PlatformDown(f"timed out after {DEADLINE_SECONDS}s waiting for {what}; log {self.log}:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the whole process group (webserver, daemon, code server, run workers), then
        SIGKILL whatever is left of it after the grace period."""
        pgid = self.process.pid  # start_new_session: the leader's pid is the group id
        _signal_group(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=TERM_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(pgid, signal.SIGKILL)  # also reaches children that outlived the leader
        self.process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def start_dagster_dev(*, home: Path, dagster_home: Path, log: Path) -> DagsterDev:
    """Start `dagster dev` on a free loopback port over the repository's workspace.yaml, as the
    README tells users to, with `home` and `dagster_home` in its environment; the working
    directory is the log's directory, so nothing lands in the repository."""
    port = free_port()
    env = {**os.environ, "DATACREW_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port),
               "--log-format", "json"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    return DagsterDev(process=process, port=port, log=log)


def wait_until_ready(dev: DagsterDev) -> None:
    """The webserver answers, the code location loaded without error, and the daemons are healthy."""

    def location_loaded():
        try:
            data = dev.graphql(WORKSPACE_QUERY)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None  # not listening yet
        entries = {e["name"]: e for e in data["workspaceOrError"]["locationEntries"]}
        entry = entries.get(LOCATION)
        if entry is None or entry["loadStatus"] != "LOADED":
            return None
        loaded = entry["locationOrLoadError"]
        if loaded["__typename"] == "PythonError":
            raise PlatformDown(f"code location {LOCATION} failed to load: {loaded['message']}")
        return True

    dev.wait_for(location_loaded, f"code location {LOCATION} at {dev.url}")

    def daemons_healthy():
        statuses = dev.graphql(DAEMON_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
        needed = {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR"}
        healthy = {s["daemonType"] for s in statuses if s["healthy"]}
        return needed <= healthy

    dev.wait_for(daemons_healthy, "the scheduler, sensor and run-queue daemons")


WORKSPACE_QUERY = """
query Workspace {
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""

DAEMON_QUERY = """
query Daemons { instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }
"""
