"""Atomic parquet output: write a hidden temp file next to the target, verify, rename.

The temp file lives in the target's directory so `os.replace` is a same-filesystem
rename: readers see the old file or the new one, never a partial one. Any failure
(the query, the verification, an interrupt) removes the temp file and leaves the
previous output untouched.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
from sqlglot import exp

from .sql_guard import DIALECT


@dataclass(frozen=True)
class WriteResult:
    path: str
    record_count: int
    bytes: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def temp_path_for(path: Path) -> Path:
    return path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp.parquet"


def copy_statement(query: exp.Query, path: Path) -> str:
    params = [
        exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("parquet")),
        exp.CopyParameter(this=exp.var("COMPRESSION"), expression=exp.var("zstd")),
    ]
    copy = exp.Copy(this=exp.Subquery(this=query), kind=False,
                    files=[exp.Literal.string(str(path))], params=params)
    return copy.sql(dialect=DIALECT)


def write_parquet(
    con: duckdb.DuckDBPyConnection,
    query: exp.Query,
    path: str | Path,
    *,
    verify: Callable[[Path], None] | None = None,
) -> WriteResult:
    """Run `query` into `path` atomically; `verify(temp_path)` may raise to keep the old file."""
    path = Path(path)
    temp = temp_path_for(path)
    start = time.perf_counter()
    try:
        record_count = con.execute(copy_statement(query, temp)).fetchall()[0][0]
        if verify is not None:
            verify(temp)
        _fsync(temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync(path.parent)
    return WriteResult(str(path), int(record_count), path.stat().st_size,
                       round(time.perf_counter() - start, 6))


def _fsync(path: Path) -> None:
    """Flush data (file) or the rename (directory) so a crash cannot undo it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
