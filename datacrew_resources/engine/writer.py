"""Atomic outputs: write hidden temps next to the target, verify, then rename.

A temp lives in its target's directory so `os.replace` is a same-filesystem rename:
readers see the old file or the new one, never a partial one. Any failure (the query,
the verification, an interrupt) removes the temps and leaves the previous output
untouched. A directory (hive partitions) is replaced by swapping it with a complete
temp directory: one `renameat2(RENAME_EXCHANGE)` on Linux, so the path always names
a whole directory; elsewhere two renames (old aside, new in), and a crash between
them is repaired by the next write, which puts the old directory back.

A killed process (SIGKILL, OOM killer, power loss) cannot remove its temps, so every
write first removes the target's leftovers. To know a temp is a leftover and not one a
live writer is filling, a writer holds an exclusive `flock` on the target's lock file
(`.<name>.lock`, same directory) for the whole write. Temps are only ever created under
that lock, so once a writer holds it, every temp of the target is stale. The kernel
releases a `flock` when its holder dies, however it dies, so a crash never leaves the
lock held. This beats an age rule ("older than an hour"), which would delete the temp
of a live but slow write and keep fresh leftovers. Concurrent writes of one target
therefore run one after the other (the last rename wins, as it would anyway);
different targets never wait for each other.

The lock file is removed at the end of the write while still held; a writer that
opened it meanwhile finds, once it holds the lock, that its file is no longer the one
at that path and starts over on the new one, so two writers never both hold the lock.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
from sqlglot import exp

from .sql_guard import DIALECT

TEMP_SUFFIX = ".tmp.parquet"
ASIDE_SUFFIX = ".old"  # a replaced directory on its way out (the two-rename fallback)
_TEMP_NAME = r"[0-9a-f]{32}\.(tmp(\.[a-z]+)?|old)"


@dataclass(frozen=True)
class WriteResult:
    path: str
    record_count: int
    bytes: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def temp_path_for(path: Path, suffix: str = TEMP_SUFFIX) -> Path:
    """A fresh hidden name next to `path`: `.<name>.<uuid>.tmp<ext>`."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex}{suffix}"


def _is_temp_of(name: str, path: Path) -> bool:
    """Whether `name` is one of `temp_path_for(path, ...)`'s names (and no other file's)."""
    return re.fullmatch(re.escape(f".{path.name}.") + _TEMP_NAME, name) is not None


def _aside_of(path: Path) -> list[Path]:
    pattern = re.escape(f".{path.name}.") + r"[0-9a-f]{32}" + re.escape(ASIDE_SUFFIX)
    if not path.parent.is_dir():
        return []
    return [Path(e.path) for e in os.scandir(path.parent) if re.fullmatch(pattern, e.name)]


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Remove the target's temps (files and directories); call only under `target_lock(path)`.

    If a two-rename directory swap died between its renames, the target is missing and
    the old directory waits aside: it is put back first, so the previous output survives.
    """
    if not path.parent.is_dir():
        return []
    asides = _aside_of(path)
    if asides and not os.path.lexists(path):
        os.rename(max(asides, key=lambda p: p.stat().st_mtime), path)
    removed = []
    for entry in os.scandir(path.parent):
        if _is_temp_of(entry.name, path):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
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


@contextmanager
def temps(*paths: Path) -> Iterator[None]:
    """Remove whatever of `paths` is left when the block fails (files or directories)."""
    try:
        yield
    except BaseException:
        for path in paths:
            remove_path(path)
        raise


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def copy_statement(query: exp.Query, path: Path, *params: exp.CopyParameter) -> str:
    """COPY (query) TO path; parquet with zstd unless `params` say otherwise."""
    params = params or (
        exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("parquet")),
        exp.CopyParameter(this=exp.var("COMPRESSION"), expression=exp.var("zstd")),
    )
    copy = exp.Copy(this=exp.Subquery(this=query), kind=False,
                    files=[exp.Literal.string(str(path))], params=list(params))
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
        with temps(temp):
            record_count = con.execute(copy_statement(query, temp)).fetchall()[0][0]
            if verify is not None:
                verify(temp)
            publish([(temp, path)])
        size = path.stat().st_size  # under the lock: this write's file, not a later one's
    return WriteResult(str(path), int(record_count), size, round(time.perf_counter() - start, 6))


def publish(pairs: Iterable[tuple[Path, Path]]) -> None:
    """Move each complete temp onto its target, in order: flush everything first, then
    rename back to back, then flush the directories, so the window in which some
    targets are new and others old is a few renames wide and needs no I/O.

    A file replaces a file with `os.replace`; a directory replaces a directory with
    `swap_directory`, whose old contents are removed after all renames.
    """
    pairs = list(pairs)
    for temp, _ in pairs:
        fsync_tree(temp)
    leftovers = []
    for temp, target in pairs:
        if temp.is_dir():
            leftovers.append(swap_directory(temp, target))
        else:
            os.replace(temp, target)
    for parent in dict.fromkeys(target.parent for _, target in pairs):
        fsync(parent)
    for old in leftovers:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def swap_directory(new: Path, target: Path) -> Path | None:
    """Put the complete directory `new` at `target`; returns where the old one went."""
    if not os.path.lexists(target):
        os.rename(new, target)
        return None
    if _exchange(new, target):
        return new  # `new` now names the old directory
    aside = target.parent / f".{target.name}.{uuid.uuid4().hex}{ASIDE_SUFFIX}"
    os.rename(target, aside)
    os.rename(new, target)  # a crash before this line: the next write renames `aside` back
    return aside


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def fsync_tree(path: Path) -> None:
    """Flush a file, or every file and directory of a tree, so a crash cannot undo it."""
    if path.is_dir():
        for root, _, files in os.walk(path):
            for name in files:
                fsync(Path(root) / name)
            fsync(Path(root))
    else:
        fsync(path)


def fsync(path: Path) -> None:
    """Flush data (file) or renames (directory) so a crash cannot undo them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tree_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
