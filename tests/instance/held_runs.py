"""A code location for the run-queue test: a sensor asks once for `DATACREW_TEST_RUNS` runs
tagged for agent `DATACREW_TEST_AGENT`; each run holds until the file `DATACREW_TEST_RELEASE`
exists, so the test sees how many the queue lets run at once."""

import os
import time
from pathlib import Path

import dagster as dg

from datacrew_resources.instance import AGENT_TAG


@dg.op
def hold(context: dg.OpExecutionContext) -> None:
    release = Path(os.environ["DATACREW_TEST_RELEASE"])
    context.log.info(f"holding until {release} exists")
    while not release.exists():
        time.sleep(0.2)


@dg.job
def held():
    hold()


@dg.sensor(job=held, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def flood():
    # Run keys make every later tick a no-op: exactly this many runs are ever requested.
    agent = os.environ["DATACREW_TEST_AGENT"]
    for number in range(int(os.environ["DATACREW_TEST_RUNS"])):
        yield dg.RunRequest(run_key=f"held-{number}", tags={AGENT_TAG: agent})


defs = dg.Definitions(jobs=[held], sensors=[flood])
