"""Where the control database lives: a SQLite file or a PostgreSQL schema, behind one interface.

The store and the audit log write plain SQL with `?` parameters and never name
the database; everything that differs (connecting, locking, the DDL, the
parameter style) is here. `open_backend` picks one from a path or a URL.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from datacrew_resources.config.errors import ConfigError

APPEND_ONLY = "delegation audit log is append-only"

# `{key}` is the type of text compared in queue order: PostgreSQL must compare it bytewise, as SQLite does.
_REQUESTS_DDL = """
CREATE TABLE IF NOT EXISTS delegation_requests (
    id {key} PRIMARY KEY,
    created_at {key} NOT NULL,
    requester TEXT NOT NULL,
    target TEXT NOT NULL,
    task_type TEXT NOT NULL,
    work_target TEXT NOT NULL,
    priority INTEGER NOT NULL,
    facts TEXT NOT NULL,
    resources TEXT NOT NULL,
    classifications TEXT NOT NULL,
    state TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    decision TEXT,
    run_id TEXT,
    approved_by TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    origin_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS delegation_requests_queue
    ON delegation_requests (state, priority DESC, created_at, id);
CREATE TABLE IF NOT EXISTS delegation_audit (
    seq {seq},
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    reasons TEXT NOT NULL,
    rule TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delegation_audit_request ON delegation_audit (request_id, seq);
"""

SQLITE_DDL = _REQUESTS_DDL.format(key="TEXT", seq="INTEGER PRIMARY KEY AUTOINCREMENT") + f"""
CREATE TRIGGER IF NOT EXISTS delegation_audit_no_update BEFORE UPDATE ON delegation_audit
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END;
CREATE TRIGGER IF NOT EXISTS delegation_audit_no_delete BEFORE DELETE ON delegation_audit
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END;
"""

# Statement-level, so even an UPDATE or DELETE matching no row is refused; TRUNCATE too.
POSTGRES_DDL = _REQUESTS_DDL.format(
    key='TEXT COLLATE "C"', seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
) + f"""
CREATE OR REPLACE FUNCTION delegation_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$;
CREATE OR REPLACE TRIGGER delegation_audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON delegation_audit
    FOR EACH STATEMENT EXECUTE FUNCTION delegation_audit_append_only();
"""

# Any fixed key: schema creation is rare and quick, so one lock for every schema is enough.
_SCHEMA_LOCK = 0x64632D736368656D  # "dc-schem"


class Backend(Protocol):
    """Connections and transactions for one database; SQL uses `?` parameters."""

    def connect(self) -> Any: ...  # a DB-API-like connection with `execute`, closed by the caller

    def begin(self, con: Any) -> None: ...

    def ensure_schema(self) -> None: ...  # both tables and the audit triggers, idempotent

    # Run (sql, params) statements in order inside the open transaction; each one's rowcount.
    def rowcounts(self, con: Any, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]: ...


class SqliteBackend:
    """A SQLite file in WAL mode; a connection per call, safe across threads and processes."""

    def __init__(self, path: Path, *, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = timeout

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit, so `begin` decides the locking.
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        con.execute("PRAGMA synchronous=FULL")
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":  # set once, kept in the file
            self._enable_wal(con)
        return con

    def _enable_wal(self, con: sqlite3.Connection) -> None:
        # The switch takes a lock SQLite does not wait for: two first connections can collide.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                con.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def begin(self, con: sqlite3.Connection) -> None:
        # Take the write lock up front: a read-then-write never fails mid-way on upgrade.
        con.execute("BEGIN IMMEDIATE")

    def ensure_schema(self) -> None:
        with closing(self.connect()) as con:
            con.executescript(SQLITE_DDL)

    def rowcounts(self, con: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        return [con.execute(sql, params).rowcount for sql, params in statements]


class PostgresBackend:
    """A PostgreSQL database (psycopg 3); the schema is the URL's search_path, or public.

    Transactions are READ COMMITTED: a compare-and-set is one `UPDATE ... WHERE
    state IN (...)`, which re-checks the row after waiting for a concurrent writer.
    """

    def __init__(self, url: str, *, timeout: float = 30.0):
        self.url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"PostgresBackend({redact(self.url)!r})"

    def connect(self) -> _PgConnection:
        import psycopg  # only deployments on PostgreSQL need the driver loaded

        return _PgConnection(psycopg.connect(self.url, connect_timeout=max(1, int(self.timeout))))

    def begin(self, con: _PgConnection) -> None:
        """Nothing to send: psycopg opens a transaction at the first statement."""

    def ensure_schema(self) -> None:
        # Two processes creating the tables at once would collide in the catalogue: take turns.
        # Tables and trigger come in one transaction, so one table found means all are there;
        # skipping then spares the audit table the trigger's lock on every new store.
        with transaction(self) as con:
            con.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
            if con.execute("SELECT to_regclass('delegation_audit')").fetchone()[0] is None:
                con.execute(POSTGRES_DDL)

    def rowcounts(self, con: _PgConnection, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
        # Pipelined: one round trip for the lot instead of one per statement; still run in order.
        with con.raw.pipeline():
            cursors = [con.execute(sql, params) for sql, params in statements]
        return [cur.rowcount for cur in cursors]


class _PgConnection:
    """A psycopg connection that takes the store's `?` parameters."""

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        # Without parameters psycopg sends the text as is (and allows several statements).
        return self.raw.execute(sql if params is None else _pg_sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cur = self.raw.cursor()
        cur.executemany(_pg_sql(sql), rows)
        return cur

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()


@lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    """`?` to `%s` (and a literal `%` escaped); the store's SQL has no `?` inside quotes."""
    return sql.replace("%", "%%").replace("?", "%s")


@contextmanager
def transaction(backend: Backend) -> Iterator[Any]:
    """One transaction: committed if the block finishes, rolled back on any exception."""
    con = backend.connect()
    try:
        backend.begin(con)
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        con.commit()
    finally:
        con.close()


@contextmanager
def reading(backend: Backend) -> Iterator[Any]:
    con = backend.connect()
    try:
        yield con
    finally:
        con.close()


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_backend(location: Path | str) -> Backend:
    """A SQLite file for a path, PostgreSQL for a `postgresql://` or `postgres://` URL."""
    if isinstance(location, Path):
        return SqliteBackend(location)
    if not isinstance(location, str) or not location.strip():
        raise ConfigError("must be a file path or a postgresql:// URL", field="control database", value=location)
    scheme = _URL.match(location)
    if scheme is None:
        return SqliteBackend(Path(location))
    if scheme.group(1).lower() in ("postgresql", "postgres"):
        return PostgresBackend(location)
    raise ConfigError(
        "unsupported database URL (use a file path or postgresql://)", field="control database", value=redact(location)
    )


def redact(url: str) -> str:
    """The URL with any password (`user:secret@` or `password=secret`) replaced by `***`."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)
