"""The bounds of one crew run, enforced by datacrew rather than left to CrewAI.

CrewAI 1.15's own bounds do not stop a run that never finishes:

- `Agent.max_execution_time` runs the task in a `ThreadPoolExecutor` inside a
  `with` block, so its `TimeoutError` is raised only after the task's loop has
  ended by itself (a 2 s limit against a model that kept calling tools ended
  after 17 s, all 31 calls made);
- `Agent.max_iter` does end the loop, but with one more forced model call and a
  failure that reads as a pydantic error about `TaskOutput.raw`.

So every model call and every tool call of a run asks `RunLimits` first: a task
may make at most `max_model_calls` model calls (its final answer included), and
nothing starts after the run's deadline. `run_bounded` runs the crew in a worker
thread and returns at the deadline even when a model request is still in
flight; that request's answer is then refused at the next call.

A tool still running at the deadline (a long write) is interrupted: `stop` calls
the callbacks given to `on_stop` (the runner gives the workbench's `interrupt`,
which interrupts DuckDB) until the tool has returned. An interrupted write
publishes nothing, so the previous output stays as it was.

Imports nothing from `crewai`; the runner adapts `LimitReached` to CrewAI's
hook protocol.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

INTERRUPT_EVERY = 0.05  # seconds between interrupts while a stopped run's tool is still running


class LimitReached(Exception):
    """A bound of the run was reached; the message says which, in one line."""


class RunLimits:
    """Model calls per task and one wall-clock deadline for a whole crew run.

    Thread-safe: tools, model-call hooks and the waiting runner share it. Once a
    limit is reached the run is stopped for good: every later model call or tool
    call is refused with the same reason.
    """

    def __init__(
        self,
        *,
        max_model_calls: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_model_calls = max_model_calls
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._deadline = clock() + timeout_seconds
        self._calls: dict[str, int] = {}
        self._last_task: str | None = None
        self._reason: str | None = None
        self._lock = threading.Lock()
        # Held while a tool runs, so `stop` knows when the tool it interrupts has returned.
        self._tool_lock = threading.Lock()
        self._on_stop: list[Callable[[str], None]] = []

    def start(self) -> None:
        """Start the clock now (building the crew, `import crewai` included, is not counted)."""
        with self._lock:
            self._deadline = self._clock() + self.timeout_seconds

    @property
    def reason(self) -> str | None:
        """Why the run was stopped, or None while it may go on."""
        with self._lock:
            return self._reason

    def remaining(self) -> float:
        return max(self._deadline - self._clock(), 0.0)

    def model_calls(self, task: str) -> int:
        with self._lock:
            return self._calls.get(task, 0)

    def before_model_call(self, task: str | None) -> None:
        """Count one model call of `task` (None: the task of the previous call).

        Raises `LimitReached` when the run is stopped, past its deadline, or when
        the task already made `max_model_calls` calls.
        """
        with self._lock:
            self._check_locked()
            name = task or self._last_task or "crew"
            self._last_task = name
            made = self._calls.get(name, 0)
            if made >= self.max_model_calls:
                self._reason = (
                    f"{name} did not finish within {self.max_model_calls} model calls "
                    f"(llm.max_iterations={self.max_model_calls})"
                )
                raise LimitReached(self._reason)
            self._calls[name] = made + 1

    @contextmanager
    def tool_call(self) -> Iterator[None]:
        """Hold the tool slot while a tool runs; raise `LimitReached` if the run is over."""
        with self._tool_lock:
            with self._lock:
                self._check_locked()
            yield

    def on_stop(self, interrupt: Callable[[str], None]) -> None:
        """Have `stop` call `interrupt(reason)` to end the work of a tool still running."""
        with self._lock:
            self._on_stop.append(interrupt)

    def stop(self, reason: str) -> None:
        """Stop the run: interrupt the tool running, if any, and return once it has returned.

        The `on_stop` callbacks are called at once, then again every INTERRUPT_EVERY
        seconds while the tool runs: an interrupt that reached no statement (one about to
        start) is followed by another that does.
        """
        with self._lock:
            self._reason = self._reason or reason
            reason, callbacks = self._reason, list(self._on_stop)
        while True:
            for interrupt in callbacks:
                interrupt(reason)
            if self._tool_lock.acquire(timeout=INTERRUPT_EVERY):
                self._tool_lock.release()
                return

    def timed_out(self) -> str:
        return f"time limit of {self.timeout_seconds:g}s exceeded (llm.timeout_seconds)"

    def _check_locked(self) -> None:
        if self._reason is None and self._clock() >= self._deadline:
            self._reason = self.timed_out()
        if self._reason is not None:
            raise LimitReached(self._reason)


def run_bounded(work: Callable[[], T], limits: RunLimits) -> T:
    """`work()` in a worker thread; raise `LimitReached` if it is not done by the deadline.

    The worker keeps the caller's context variables. A worker still running at the
    deadline is stopped: the tool it runs is interrupted (`RunLimits.on_stop`) and
    waited for, and its next model or tool call is refused.
    """
    outcome: dict[str, object] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(work)
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=target, name="datacrew-crew-run", daemon=True)
    limits.start()
    worker.start()
    worker.join(limits.remaining())
    if worker.is_alive():
        limits.stop(limits.timed_out())
        raise LimitReached(limits.reason or limits.timed_out())
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
