"""The catalog store: current `DatasetRecord` per asset key, plus scan history.

SQLite in WAL mode, so Dagster can read definitions while a discovery writes.
Reading is a single SELECT of JSON rows: no scanning happens here. Each
write also appends one history row (row count and schema hash) per dataset
whose record changed, new ones included, for drift detection; an unchanged
record is neither rewritten nor given a history row. The errors of each
source's latest scan (the source's or a dataset's, one line each) are kept
beside them (`record_errors`, `errors`). A connection is opened
per call: cheap for SQLite, and safe across the threads and processes Dagster
uses.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .models import DatasetRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    asset_key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS datasets_source ON datasets (source);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asset_key TEXT NOT NULL,
    scanned_at TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    schema_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_asset_key ON scans (asset_key, id);
CREATE TABLE IF NOT EXISTS source_errors (
    source TEXT NOT NULL,
    dataset TEXT,
    recorded_at TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS source_errors_source ON source_errors (source);
"""


@dataclass(frozen=True)
class ScanError:
    """Why a source (`dataset` None) or one of its datasets could not be scanned."""

    source: str
    dataset: str | None
    message: str


@dataclass(frozen=True)
class RecordedError:
    """A `ScanError` as the catalog keeps it, with the time of the scan that hit it."""

    error: ScanError
    recorded_at: datetime


@dataclass(frozen=True)
class ScanEntry:
    asset_key: str
    scanned_at: datetime
    record_count: int
    schema_hash: str


def schema_hash(record: DatasetRecord) -> str:
    """Hash of column names, types and nullability, in order: equal hashes mean no drift."""
    shape = [(c.name, c.type, c.nullable) for c in record.columns]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


class CatalogStore:
    """Current records by `source/dataset` key; the file is created on first write."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield con
        finally:
            con.close()

    def _ensure(self, con: sqlite3.Connection) -> None:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)

    def replace_sources(self, records_by_source: Mapping[str, Sequence[DatasetRecord]]) -> None:
        """Replace several sources in one transaction; datasets no longer found are removed."""
        for source, records in records_by_source.items():
            strays = sorted({r.source for r in records} - {source})
            if strays:
                raise ValueError(f"records of source(s) {strays} passed for source {source!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scanned_at = datetime.now(UTC).isoformat()
        with self._connect() as con:
            self._ensure(con)
            con.execute("BEGIN IMMEDIATE")
            try:
                for source, records in records_by_source.items():
                    self._replace_source(con, source, records, scanned_at)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _replace_source(
        self, con: sqlite3.Connection, source: str, records: Sequence[DatasetRecord], scanned_at: str
    ) -> None:
        """Write the records that differ from the stored ones, with a history row each; drop vanished ones."""
        stored = dict(con.execute("SELECT asset_key, record FROM datasets WHERE source = ?", (source,)))
        written = {r.key_string: r.model_dump_json() for r in records}
        changed = [r for r in records if stored.get(r.key_string) != written[r.key_string]]
        stale = (stored.keys() - written.keys()) | {r.key_string for r in changed}
        con.executemany("DELETE FROM datasets WHERE asset_key = ?", [(key,) for key in sorted(stale)])
        con.executemany(
            "INSERT INTO datasets (asset_key, source, record) VALUES (?, ?, ?)",
            [(r.key_string, source, written[r.key_string]) for r in changed],
        )
        con.executemany(
            "INSERT INTO scans (asset_key, scanned_at, record_count, schema_hash) VALUES (?, ?, ?, ?)",
            [(r.key_string, scanned_at, r.record_count, schema_hash(r)) for r in changed],
        )

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        if not self.path.exists():
            return []
        with self._connect() as con:
            try:
                return con.execute(sql, params).fetchall()
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):  # created but never written
                    return []
                raise

    def all(self) -> list[DatasetRecord]:
        """Every current record, sorted by asset key."""
        rows = self._rows("SELECT record FROM datasets ORDER BY asset_key")
        return [DatasetRecord.model_validate_json(row[0]) for row in rows]

    def get(self, key_string: str) -> DatasetRecord | None:
        rows = self._rows("SELECT record FROM datasets WHERE asset_key = ?", (key_string,))
        return DatasetRecord.model_validate_json(rows[0][0]) if rows else None

    def record_errors(self, scanned_sources: Sequence[str], errors: Sequence[ScanError]) -> None:
        """Replace the errors of the sources just scanned: a clean rescan clears a source's errors."""
        strays = sorted({e.source for e in errors} - set(scanned_sources))
        if strays:
            raise ValueError(f"errors of source(s) {strays} not among the scanned sources")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        recorded_at = datetime.now(UTC).isoformat()
        with self._connect() as con:
            self._ensure(con)
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("DELETE FROM source_errors WHERE source = ?", [(s,) for s in scanned_sources])
                con.executemany(
                    "INSERT INTO source_errors (source, dataset, recorded_at, message) VALUES (?, ?, ?, ?)",
                    [(e.source, e.dataset, recorded_at, e.message) for e in errors],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def errors(self) -> list[RecordedError]:
        """The errors of the latest scan of each source, by source then dataset (source-level first)."""
        rows = self._rows(
            "SELECT source, dataset, recorded_at, message FROM source_errors"
            " ORDER BY source, dataset IS NOT NULL, dataset, rowid"
        )
        return [RecordedError(ScanError(s, d, m), datetime.fromisoformat(at)) for s, d, at, m in rows]

    def history(self, key_string: str) -> list[ScanEntry]:
        """Every scan of one dataset, oldest first."""
        rows = self._rows(
            "SELECT asset_key, scanned_at, record_count, schema_hash FROM scans"
            " WHERE asset_key = ? ORDER BY id",
            (key_string,),
        )
        return [ScanEntry(k, datetime.fromisoformat(at), n, h) for k, at, n, h in rows]
