"""Scored candidates of past searches, valid until the catalog changes.

What is kept is the part of a search that depends only on the catalog and the
query terms: the matching records with their BM25F relevance, quality, schema
completeness, domain and last update (`ranking.Candidate`). Filters and
freshness depend on the request and the clock and are applied afresh on every
search, so a cached answer is never stale in time.

Validity: an entry is keyed on the catalog's fingerprint, a SHA-256 of every
(asset key, record JSON) row of the store, read in one SELECT (one SQLite
read transaction, so a consistent snapshot even while a discovery writes).
Any committed change, by any process, to any field of any record, or a record
added or removed, changes the fingerprint, so the old entries are never
matched again (they are deleted at the next write). SQLite's own counters do
not serve here: `PRAGMA data_version` is only comparable within one
connection, and the header's change counter is not kept up to date in WAL
mode. The store has no generation number of its own yet.

Entries live in a SQLite file beside the catalog, so separate CLI runs share
them; at most `MAX_ENTRIES` are kept, the oldest dropped first.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .models import DatasetRecord
from .store import CatalogStore
from .ranking import Candidate

MAX_ENTRIES = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    fingerprint TEXT NOT NULL,
    terms TEXT NOT NULL,
    candidates TEXT NOT NULL,
    stored_at REAL NOT NULL,
    PRIMARY KEY (fingerprint, terms)
);
"""


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class CatalogSnapshot:
    """The catalog's record rows as stored, and their fingerprint; records parsed on demand."""

    fingerprint: str
    rows: dict[str, str]

    def record(self, key_string: str) -> DatasetRecord:
        return DatasetRecord.model_validate_json(self.rows[key_string])

    def records(self) -> list[DatasetRecord]:
        return [self.record(key) for key in self.rows]


def read_catalog(store: CatalogStore) -> CatalogSnapshot:
    """Every record row of the catalog store, in key order, and their fingerprint."""
    rows = store.record_rows()
    digest = hashlib.sha256()
    for key, record in rows:
        # Length-prefixed, so no two different row lists hash the same bytes.
        for part in (key.encode(), record.encode()):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return CatalogSnapshot(digest.hexdigest(), dict(rows))


class SearchCache:
    """Candidates by (catalog fingerprint, query terms); the file is created on first write."""

    def __init__(self, path: Path, *, max_entries: int = MAX_ENTRIES):
        self.path = Path(path)
        self.max_entries = max_entries

    def get(self, fingerprint: str, terms: Sequence[str]) -> list[Candidate] | None:
        if not self.path.exists():
            return None
        with _connect(self.path) as con:  # created by `put`, with its table
            row = con.execute(
                "SELECT candidates FROM searches WHERE fingerprint = ? AND terms = ?",
                (fingerprint, json.dumps(list(terms))),
            ).fetchone()
        return [Candidate.from_json(c) for c in json.loads(row[0])] if row else None

    def put(self, fingerprint: str, terms: Sequence[str], candidates: Sequence[Candidate]) -> None:
        """Keep `candidates`, dropping entries of other catalog versions and the oldest beyond the cap."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps([c.to_json() for c in candidates])
        with _connect(self.path) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute("DELETE FROM searches WHERE fingerprint != ?", (fingerprint,))
                con.execute(
                    "INSERT OR REPLACE INTO searches (fingerprint, terms, candidates, stored_at) VALUES (?, ?, ?, ?)",
                    (fingerprint, json.dumps(list(terms)), payload, time.time()),
                )
                con.execute(
                    "DELETE FROM searches WHERE rowid NOT IN"
                    " (SELECT rowid FROM searches ORDER BY stored_at DESC, rowid DESC LIMIT ?)",
                    (self.max_entries,),
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
