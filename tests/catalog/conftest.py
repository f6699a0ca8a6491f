"""Small generated lakes and warehouses for the catalog tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datacrew_resources.config import SourceConfig, SourceType


@pytest.fixture
def lake_source() -> SourceConfig:
    return SourceConfig(name="lake", type=SourceType.data_lake, uri="lake", owner="team:lake")


@pytest.fixture
def write_parquet() -> Callable[..., Path]:
    """Write a small parquet file with int32, int64 (nullable), string and UTC timestamp columns."""

    def write(path: Path, rows: int = 3, *, null_every: int = 0, mtime: float | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table(
            {
                "id": pa.array(range(rows), pa.int32()),
                "amount": pa.array(
                    [None if null_every and i % null_every == 0 else i * 10 for i in range(rows)],
                    pa.int64(),
                ),
                "label": pa.array([f"row {i}" for i in range(rows)], pa.string()),
                "at": pa.array(
                    [datetime(2024, 1, 1, tzinfo=UTC)] * rows, pa.timestamp("us", tz="UTC")
                ),
            }
        )
        pq.write_table(table, path)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    return write


@pytest.fixture
def run_unprivileged() -> Callable[..., subprocess.CompletedProcess]:
    """Run a command that file permissions apply to, even when the tests run as root.

    Root reads a mode-000 file anyway (CAP_DAC_OVERRIDE); dropping that capability and
    CAP_DAC_READ_SEARCH from the bounding set before exec makes the child an ordinary reader.
    """

    def run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *command], capture_output=True, text=True, check=False, env=env)

    return run
