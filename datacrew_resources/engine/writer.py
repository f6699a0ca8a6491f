"""Atomic parquet output: write a hidden temp file next to the target, verify, rename.

The temp file lives in the target's directory so `os.replace` is a same-filesystem
rename: readers see the old file or the new one, never a partial one. Any failure
(the query, the verification, an interrupt) removes the temp file and leaves the
previous output untouched.

A killed process (SIGKILL, OOM killer, power loss) cannot remove its temp file, so
every write first removes the target's leftovers. To know a temp file is a leftover
and not the file a live writer is filling, a writer holds an exclusive `flock` on the
target's lock file (`.<name>.lock`, same directory) for the whole write. Temp files are
only ever created under that lock, so once a writer holds it, every temp file of the
target is stale. The kernel releases a `flock` when its holder dies, however it dies,
so a crash never leaves the lock held. This beats an age rule ("older than an hour"),
which would delete the temp file of a live but slow write and keep fresh leftovers.
Concurrent writes of one target therefore run one after the other (the last rename
wins, as it would anyway); different targets never wait for each other.

The lock file is removed at the end of the write while still held; a writer that
opened it meanwhile finds, once it holds the lock, that its file is no longer the one
at that path and starts over on the new one, so two writers never both hold the lock.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
from sqlglot import exp

from .sql_guard import DIALECT

TEMP_SUFFIX = ".tmp.parquet"


@dataclass(frozen=True)
class WriteResult:
    path: str
    record_count: int
    bytes: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def temp_path_for(path: Path) -> Path:
    return path.parent / f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"


def _is_temp_of(name: str, path: Path) -> bool:
    """Whether `name` is one of `temp_path_for(path)`'s names (and no other file's)."""
    pattern = re.escape(f".{path.name}.") + "[0-9a-f]{32}" + re.escape(TEMP_SUFFIX)
    return re.fullmatch(pattern, name) is not None


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Remove the target's temp files; call only while holding `target_lock(path)`."""
    removed = []
    for entry in os.scandir(path.parent):
        if _is_temp_of(entry.name, path) and entry.is_file(follow_symlinks=False):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


@contextmanager
def target_lock(path: Path) -> Iterator[None]:
    """Hold the target's exclusive write lock (blocks while another writer holds it)."""
    lock = path.parent / f".{path.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, lock):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed the lock file while we waited: lock the new one
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # before releasing, so waiters see the file is gone
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)


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
    start = time.perf_counter()
    with target_lock(path):
        remove_stale_temp_files(path)
        temp = temp_path_for(path)
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
        size = path.stat().st_size  # under the lock: this write's file, not a later one's
    return WriteResult(str(path), int(record_count), size, round(time.perf_counter() - start, 6))


def _fsync(path: Path) -> None:
    """Flush data (file) or the rename (directory) so a crash cannot undo it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
