"""Keep CrewAI local: no telemetry, no tracing, state only under one storage dir.

Call `prepare_crewai(storage_dir)` before anything imports `crewai`: several of
these settings are read while `crewai` is being imported. The runner and
`build_llm` do; nothing does it at import time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from datacrew_resources.environment import quiet_environment

STORAGE_ENV = "CREWAI_STORAGE_DIR"


def prepare_crewai(storage_dir: Path | str) -> Path:
    """Apply the offline settings and return the storage dir, created.

    `storage_dir` replaces any earlier one: CrewAI reads `CREWAI_STORAGE_DIR` on
    every access, so each run writes its state (kickoff outputs, user data)
    where its runner was told to.
    """
    quiet_environment()
    # An absolute name makes appdirs' user_data_dir() return it unchanged.
    storage = Path(storage_dir).resolve()
    os.environ[STORAGE_ENV] = str(storage)
    storage.mkdir(parents=True, exist_ok=True)
    _use_local_locks(storage)
    _decline_tracing()
    return storage


def _decline_tracing() -> None:
    """Record "tracing declined", as `crewai traces disable` does.

    Without it CrewAI treats the storage dir as a first-time user: it registers
    its trace listeners at import and may ask, on a terminal, to upload traces.
    """
    from crewai_core.user_data import has_user_declined_tracing, update_user_data

    if not has_user_declined_tracing():
        update_user_data({"trace_consent": False, "first_execution_done": True})


def _use_local_locks(storage: Path) -> None:
    """Keep CrewAI's file locks local.

    `crewai_core.lock_store` sends its locks to Redis whenever `REDIS_URL` is
    set and `redis` is installed, which a platform with Redis stream sources is,
    and otherwise to the system temp dir.
    """
    # Not re-exported by `crewai`, but the documented hook for replacing the
    # lock backend; needed because there is no setting for the lock location.
    # Checked against crewai / crewai-core 1.15.30.
    from crewai_core import lock_store

    lock_dir = storage / "locks"
    lock_dir.mkdir(exist_ok=True)

    @contextmanager
    def file_lock(name: str, *, timeout: float) -> Iterator[None]:
        import portalocker

        digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
        with portalocker.Lock(str(lock_dir / f"{digest}.lock"), timeout=timeout):
            yield

    lock_store.set_lock_backend(file_lock)
