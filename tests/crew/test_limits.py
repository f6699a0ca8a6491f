"""RunLimits and run_bounded: model calls per task, one deadline, a worker that is let go."""

from __future__ import annotations

import threading
import time

import pytest

from datacrew_resources.crew.limits import LimitReached, RunLimits, run_bounded


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_task_gets_its_own_model_calls():
    limits = RunLimits(max_model_calls=2, timeout_seconds=60)
    for task in ("plan", "plan", "execute", None):  # None: the task of the call before
        limits.before_model_call(task)
    assert (limits.model_calls("plan"), limits.model_calls("execute")) == (2, 2)
    with pytest.raises(LimitReached, match=r"^plan did not finish within 2 model calls"):
        limits.before_model_call("plan")
    # Stopped for good: every later call is refused with the first reason.
    with pytest.raises(LimitReached, match=r"^plan did not finish"):
        limits.before_model_call("validate")
    assert limits.reason == "plan did not finish within 2 model calls (llm.max_iterations=2)"


def test_the_deadline_refuses_model_and_tool_calls():
    clock = Clock()
    limits = RunLimits(max_model_calls=10, timeout_seconds=5, clock=clock)
    limits.before_model_call("plan")
    with limits.tool_call():
        pass
    clock.now = 5.0
    with pytest.raises(LimitReached, match=r"time limit of 5s exceeded \(llm.timeout_seconds\)"):
        limits.before_model_call("plan")
    with pytest.raises(LimitReached, match="time limit"), limits.tool_call():
        pytest.fail("a tool ran after the deadline")


def test_start_restarts_the_clock():
    clock = Clock()
    limits = RunLimits(max_model_calls=1, timeout_seconds=5, clock=clock)
    clock.now = 100.0
    limits.start()
    assert limits.remaining() == 5.0
    limits.before_model_call("plan")


def test_stop_waits_for_the_tool_in_progress():
    limits = RunLimits(max_model_calls=1, timeout_seconds=60)
    inside, release, finished = threading.Event(), threading.Event(), []

    def tool() -> None:
        with limits.tool_call():
            inside.set()
            release.wait(5)
            finished.append(time.monotonic())

    worker = threading.Thread(target=tool)
    worker.start()
    inside.wait(5)
    threading.Timer(0.2, release.set).start()
    limits.stop("stopped by test")
    stopped = time.monotonic()
    worker.join()
    assert finished and finished[0] <= stopped


def test_run_bounded_returns_the_value_or_raises_the_error():
    limits = RunLimits(max_model_calls=1, timeout_seconds=5)
    assert run_bounded(lambda: 42, limits) == 42
    with pytest.raises(KeyError):
        run_bounded(lambda: {}["x"], limits)


def test_run_bounded_returns_at_the_deadline_and_the_worker_is_refused_after():
    limits = RunLimits(max_model_calls=1000, timeout_seconds=0.3)
    refused: list[str] = []

    def endless() -> None:
        while True:
            try:
                limits.before_model_call("plan")
            except LimitReached as e:
                refused.append(str(e))
                return
            time.sleep(0.01)

    with pytest.raises(LimitReached, match=r"time limit of 0.3s exceeded"):
        run_bounded(endless, limits)
    deadline = time.monotonic() + 2
    while not refused and time.monotonic() < deadline:
        time.sleep(0.01)
    assert refused == ["time limit of 0.3s exceeded (llm.timeout_seconds)"]


def test_stop_interrupts_the_running_tool_until_it_returns():
    limits = RunLimits(max_model_calls=1, timeout_seconds=60)
    inside, interrupts, returned = threading.Event(), [], []

    def interrupt(reason: str) -> None:
        interrupts.append(reason)

    def tool() -> None:
        with limits.tool_call():
            inside.set()
            # Misses the first interrupt (as a statement about to start would), not the next.
            while len(interrupts) < 2:
                time.sleep(0.001)
            returned.append(len(interrupts))

    limits.on_stop(interrupt)
    worker = threading.Thread(target=tool)
    worker.start()
    inside.wait()
    limits.stop("time limit of 1s exceeded (llm.timeout_seconds)")
    assert returned == [2]  # stop returned only after the tool did
    assert set(interrupts) == {"time limit of 1s exceeded (llm.timeout_seconds)"}
    worker.join()


def test_stop_without_a_running_tool_interrupts_once_and_returns():
    limits = RunLimits(max_model_calls=1, timeout_seconds=60)
    interrupts: list[str] = []
    limits.on_stop(interrupts.append)
    limits.stop("stopped by test")
    assert interrupts == ["stopped by test"]
    with pytest.raises(LimitReached, match="stopped by test"), limits.tool_call():
        pytest.fail("a tool ran after the stop")
