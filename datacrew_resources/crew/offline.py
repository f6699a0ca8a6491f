"""Keep CrewAI local: no telemetry, no tracing, state only under one storage dir.

Call `prepare_crewai()` before anything imports `crewai`: several of these
settings are read while `crewai` is being imported.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STORAGE_ENV = "CREWAI_STORAGE_DIR"

# Defaults only (`setdefault`), so an operator can still opt in explicitly.
OFFLINE_ENV = {
    # OpenTelemetry export of crew/agent/task spans to telemetry.crewai.com.
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "OTEL_SDK_DISABLED": "true",
    # Execution traces uploaded to app.crewai.com.
    "CREWAI_TRACING_ENABLED": "false",
    # PyPI "new version available" lookup, done by the console formatter.
    "CREWAI_DISABLE_VERSION_CHECK": "true",
}

# Where CrewAI keeps state when no storage dir is given (CrewAI's own default
# is ~/.local/share/<name of the working directory>).
DEFAULT_STORAGE_DIR = Path(tempfile.gettempdir()) / "datacrew-crewai"


def prepare_crewai(storage_dir: Path | str | None = None) -> Path:
    """Apply the offline settings and return the storage dir in effect.

    `storage_dir` replaces any earlier one: CrewAI reads `CREWAI_STORAGE_DIR` on
    every access, so each run writes its state (kickoff outputs, user data)
    where its runner was told to.
    """
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    if storage_dir is not None:
        os.environ[STORAGE_ENV] = str(Path(storage_dir).resolve())
    # An absolute name makes appdirs' user_data_dir() return it unchanged.
    storage = Path(os.environ.setdefault(STORAGE_ENV, str(DEFAULT_STORAGE_DIR)))
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
    set and `redis` is installed, which a platform with Redis stream sources is.
    """
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
