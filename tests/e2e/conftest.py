"""The running platform: a demo home, `dagster dev` over it, and headless Chromium.

Everything the tests leave behind (the home with its Dagster instance, the `dagster dev` log,
screenshots, a screenshot of the page a failing browser test was on) goes to one artifacts
directory, printed at the end of the session and kept after it: `test-artifacts/e2e/` in the
repository (gitignored), or `$DATACREW_E2E_ARTIFACTS`. With `DATACREW_UPDATE_SCREENSHOTS=1`
the browser tests also refresh the README's screenshots in `docs/screenshots/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient
from playwright.sync_api import sync_playwright

from datacrew_assets.delegation import GATE_SENSOR
from datacrew_resources.catalog.discover import discover
from datacrew_resources.config import Home
from datacrew_resources.delegation.service import Delegation
from datacrew_resources.delegation.states import APPROVED, LAUNCHED, PENDING, RUNNING
from datacrew_resources.delegation.targets import TRANSFORM_JOB
from datacrew_resources.demo import build_demo_sources
from datacrew_resources.demo_home import install_templates
from datacrew_resources.environment import prepare_environment

from .dagster_dev import LOCATION, REPO, REPOSITORY, DagsterDev, start_dagster_dev, wait_until_ready
from .queries import (
    RUNS, SCHEDULE_STATE, SENSOR_STATE, START_SENSOR, STOP_SCHEDULE, schedule_selector, sensor_selector,
)

ARTIFACTS_ENV = "DATACREW_E2E_ARTIFACTS"
UPDATE_SCREENSHOTS_ENV = "DATACREW_UPDATE_SCREENSHOTS"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `make browser` installs it
# Playwright drives the system Chromium; its own browser download is never used.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# The request the tutorial's rule 2 (STAGE_COORDINATOR -> PIPELINE_COLLABORATOR) allows.
REQUESTER, AGENT, TASK_TYPE = "etl-architect-1", "etl-developer-1", "data_validation"
FACTS = {"stage_scope": True, "data_quality_threshold": 0.95}
RESOURCES = {"cpu": 2, "memory": 100}
SCHEDULE = "every_minute_validation"
# A spec scheduled every minute (its own `schedule:`), run by the agent above so that the
# defaulted requester and task type (rule 2) launch it without approval.
SCHEDULED_SPEC = "airports"
SPEC_SCHEDULE = f"{SCHEDULED_SPEC}_schedule"

ACTIVE_RUN_STATUSES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

_artifacts_dir: list[Path] = []  # for the terminal summary
_failed = pytest.StashKey[bool]()


@dataclass(frozen=True)
class E2EHome:
    home: Home
    dagster_home: Path
    artifacts: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DATACREW_HOME": str(self.home.root), "DAGSTER_HOME": str(self.dagster_home)}

    def datacrew(self, *args: str) -> str:
        """A `datacrew` command on this home, run as a user runs it; its standard output."""
        result = subprocess.run([sys.executable, "-m", "datacrew_assets.cli", *args, "--home", str(self.home.root)],
                                env=self.env, cwd=self.artifacts, capture_output=True, text=True)
        assert result.returncode == 0, f"datacrew {' '.join(args)} exited {result.returncode}: {result.stderr}"
        return result.stdout

    def datacrew_json(self, *args: str) -> Any:
        return json.loads(self.datacrew(*args, "--json"))

    def screenshot(self, page, name: str) -> Path:
        """Save a PNG of `page` to the artifacts (and to docs/screenshots when asked to)."""
        path = self.artifacts / "screenshots" / name
        page.screenshot(path=str(path))
        if os.environ.get(UPDATE_SCREENSHOTS_ENV) == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / name)
        return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """A fresh artifacts directory for this session (the previous session's is replaced)."""
    path = Path(os.environ.get(ARTIFACTS_ENV) or REPO / "test-artifacts" / "e2e").resolve()
    shutil.rmtree(path, ignore_errors=True)
    (path / "screenshots").mkdir(parents=True)
    _artifacts_dir.append(path)
    return path


def _configure(home: Home) -> None:
    """The demo's datacrew.yaml, changed so the platform shows everything within a few minutes."""
    data = yaml.safe_load(home.config_path.read_text())
    # A schedule that ticks every minute: each tick submits a request the gate launches.
    data["schedules"] = [{"name": SCHEDULE, "cron": "* * * * *", "task_type": TASK_TYPE, "requester": REQUESTER,
                          "agent": AGENT, "priority": "high", "facts": FACTS, "resources": RESOURCES}]
    data["gate"] = {"interval_seconds": 5}
    # One process per run rather than one per step: on a shared two-core machine each step
    # process loads the code location again (three minutes for the transformation job).
    data["executor"] = {"kind": "in_process"}
    # The quality monitor (every five minutes by default) would add runs at random moments.
    data["datasets"]["monitor_cron"] = "0 0 1 1 *"
    home.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec_path = home.root / "specs" / f"{SCHEDULED_SPEC}.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["agent"] = AGENT
    spec["schedule"] = {"cron": "* * * * *", "priority": "high", "facts": FACTS, "resources": RESOURCES}
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture(scope="session")
def e2e_home(artifacts: Path) -> E2EHome:
    """The demo home (sources built, config adjusted, discovered; nothing materialized yet),
    with its Dagster instance inside it."""
    home = Home(artifacts / "home")
    dagster_home = home.root / "dagster"
    build_demo_sources(home.root)
    install_templates(home)
    _configure(home)
    with pytest.MonkeyPatch.context() as patch:
        # prepare_environment sets DAGSTER_HOME for the process; keep that to this setup.
        patch.setenv("DAGSTER_HOME", str(dagster_home))
        prepare_environment(home)
        report = discover(home, home.load_config())
    assert not report.errors, report.errors
    return E2EHome(home=home, dagster_home=dagster_home, artifacts=artifacts)


@pytest.fixture(scope="session")
def platform(e2e_home: E2EHome) -> Iterator[DagsterDev]:
    """`dagster dev` over the e2e home, ready (code location loaded, daemons healthy); the whole
    process group is stopped at the end of the session, pass or fail."""
    dev = start_dagster_dev(home=e2e_home.home.root, dagster_home=e2e_home.dagster_home,
                            log=e2e_home.artifacts / "dagster-dev.log")
    try:
        wait_until_ready(dev)
        yield dev
    finally:
        dev.stop()


@contextmanager
def gql_quiet() -> Iterator[None]:
    """Dagster's GraphQL client calls gql in a way gql deprecates; not ours to fix."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using variable_values and operation_name", DeprecationWarning)
        yield


@dataclass(frozen=True)
class Launched:
    run_id: str  # the transformation job, launched through Dagster's GraphQL client
    request_id: str  # a delegation request, submitted with `datacrew requests submit`


@pytest.fixture(scope="session")
def launched(platform: DagsterDev, e2e_home: E2EHome) -> Launched:
    """Both launched at once, so their runs overlap rather than queue behind each test: the job as
    the UI's Materialize button launches it, the request for the gate sensor to launch."""
    selector = sensor_selector(GATE_SENSOR)
    if platform.graphql(SENSOR_STATE, {"selector": selector})["sensorOrError"]["sensorState"]["status"] != "RUNNING":
        platform.graphql(START_SENSOR, {"selector": selector})  # running by default; an operator may stop it
    client = DagsterGraphQLClient("127.0.0.1", port_number=platform.port)
    with gql_quiet():
        run_id = client.submit_job_execution(TRANSFORM_JOB, repository_location_name=LOCATION,
                                             repository_name=REPOSITORY)
    facts = [f"--fact={k}={json.dumps(v)}" for k, v in FACTS.items()]
    resources = [f"--resource={k}={v}" for k, v in RESOURCES.items()]
    submitted = e2e_home.datacrew_json("requests", "submit", "--from", REQUESTER, "--to", AGENT,
                                       "--task", TASK_TYPE, *facts, *resources)
    assert submitted["state"] == "pending", submitted
    return Launched(run_id=run_id, request_id=submitted["request_id"])


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    status: DagsterRunStatus


@pytest.fixture(scope="session")
def transformation_run(platform: DagsterDev, launched: Launched) -> FinishedRun:
    """The launched transformation job, followed to its end through the GraphQL client."""
    client = DagsterGraphQLClient("127.0.0.1", port_number=platform.port)
    with gql_quiet():
        status = platform.wait_for(lambda: (s := client.get_run_status(launched.run_id)) in FINISHED and s,
                                   f"run {launched.run_id} of {TRANSFORM_JOB} to finish")
    return FinishedRun(launched.run_id, status)


def first_submitted_request(platform: DagsterDev, name: str) -> str:
    """The request the per-minute schedule `name`'s first tick submitted. The schedule is then
    stopped, so it does not add a run every minute for the rest of the session."""
    selector = schedule_selector(name)

    def submitted_ticks():
        state = platform.graphql(SCHEDULE_STATE, {"selector": selector})["scheduleOrError"]["scheduleState"]
        errors = [t["error"]["message"] for t in state["ticks"] if t["error"]]
        assert not errors, errors
        # The schedule never launches a run itself: it submits a request and skips (invariant 1).
        return [(state["id"], t["skipReason"]) for t in reversed(state["ticks"])  # oldest first
                if t["status"] == "SKIPPED" and t["skipReason"].startswith("submitted request ")]

    state_id, reason = platform.wait_for(submitted_ticks, f"a tick of schedule {name}")[0]
    stopped = platform.graphql(STOP_SCHEDULE, {"id": state_id})["stopRunningSchedule"]
    assert stopped["scheduleState"]["status"] == "STOPPED", stopped
    return re.fullmatch(r"submitted request (\w+) \(\w+\); .*", reason).group(1)


@pytest.fixture(scope="session")
def scheduled_requests(platform: DagsterDev) -> dict[str, str]:
    """By schedule (the datacrew.yaml one and the spec's), the request its first tick submitted."""
    return {name: first_submitted_request(platform, name) for name in (SCHEDULE, SPEC_SCHEDULE)}


def wait_until_quiet(platform: DagsterDev, e2e_home: E2EHome) -> None:
    """No delegation request waiting to be launched or running, and no run queued or running."""
    store = Delegation(e2e_home.home).store

    def quiet():
        runs = platform.graphql(RUNS, {"filter": {"statuses": ACTIVE_RUN_STATUSES}})["runsOrError"]["results"]
        return not runs and not store.list(states=[PENDING, APPROVED, LAUNCHED, RUNNING])

    platform.wait_for(quiet, "every run and open delegation request to finish")


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium through Playwright, closed at the end of the session."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install -y chromium chromium-driver)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium, e2e_home: E2EHome, request: pytest.FixtureRequest):
    """A fresh page; when the test fails, a screenshot of where it was is left in the artifacts."""
    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    try:
        yield page
        if request.node.stash.get(_failed, False):
            page.screenshot(path=str(e2e_home.artifacts / "screenshots" / f"FAILED-{request.node.name}.png"))
    finally:
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_failed] = True
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if _artifacts_dir:
        terminalreporter.write_line(f"e2e artifacts (home, dagster-dev.log, screenshots): {_artifacts_dir[0]}")
