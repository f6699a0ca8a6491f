"""The catalog store: current `DatasetRecord` per asset key, plus scan history.

SQLite in WAL mode (`state/catalog.sqlite`), so Dagster can read definitions while a
discovery writes; or PostgreSQL by URL (`catalog_location`), through the same SQL.
Reading is a single SELECT of JSON rows: no scanning happens here. Each
write also appends one history row per dataset whose record changed, new ones
included: row count, schema hash, the schema itself (name, type, nullability
per column) and, when the schema differs from the record it replaces, what
changed (`schema_change`: columns added, removed, retyped, and whose
nullability flipped). So schema drift is never lost when a record is
overwritten: `history` shows every schema a dataset had and each change. An
unchanged record is neither rewritten nor given a history row. Catalogs
written before the schema columns existed gain them on first use (their
latest history rows get the current records' schemas). The errors of each
source's latest scan (the source's or a dataset's, one line each) are kept
beside them (`record_errors`, `errors`). A connection is opened
per call: cheap for SQLite, and safe across the threads and processes Dagster
uses.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datacrew_resources.config import Home, PlatformConfig
from datacrew_resources.delegation.backend import Backend, PostgresBackend, open_backend, reading, transaction

from .models import DatasetRecord

CATALOG_URL_ENV = "DATACREW_CATALOG_URL"

# `{key}`: text compared in key order, bytewise in PostgreSQL as in SQLite; `{seq}`: the
# insertion order of scan errors (SQLite has its rowid).
_TABLES = """
CREATE TABLE IF NOT EXISTS datasets (
    asset_key {key} PRIMARY KEY,
    source {key} NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS datasets_source ON datasets (source);
CREATE TABLE IF NOT EXISTS scans (
    id {id},
    asset_key TEXT NOT NULL,
    scanned_at TEXT NOT NULL,
    record_count {count} NOT NULL,
    schema_hash TEXT NOT NULL,
    columns TEXT,
    schema_change TEXT
);
CREATE INDEX IF NOT EXISTS scans_asset_key ON scans (asset_key, id);
CREATE TABLE IF NOT EXISTS source_errors ({seq}
    source {key} NOT NULL,
    dataset {key},
    recorded_at TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS source_errors_source ON source_errors (source);
"""
_SCHEMA = _TABLES.format(key="TEXT", id="INTEGER PRIMARY KEY AUTOINCREMENT", count="INTEGER", seq="")
_POSTGRES_SCHEMA = _TABLES.format(
    key='TEXT COLLATE "C"', id="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", count="BIGINT",
    seq="\n    seq BIGINT GENERATED ALWAYS AS IDENTITY,",
)
# Any fixed key, another than the control plane's: two first writers take turns creating tables.
_SCHEMA_LOCK = 0x64632D636174616C  # "dc-catal"


def catalog_location(home: Home, config: PlatformConfig | None = None) -> Path | str:
    """`DATACREW_CATALOG_URL`, else `instance.catalog_url` (of `config`, else of the home's
    datacrew.yaml), else SQLite in the home's state dir."""
    if os.environ.get(CATALOG_URL_ENV):
        return os.environ[CATALOG_URL_ENV]
    if config is None and home.config_path.exists():
        config = home.load_config()  # never a silent SQLite fallback when PostgreSQL is configured
    return (config.instance.catalog_url if config else None) or home.catalog_path


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


Columns = Sequence[Sequence[Any]]  # [[name, type], ...] or [[name, type, nullable], ...], in order


@dataclass(frozen=True)
class ScanEntry:
    """One history row: a changed record as a scan wrote it."""

    asset_key: str
    scanned_at: datetime
    record_count: int
    schema_hash: str
    columns: list[tuple[str, str, bool]] | None = None  # None: written before schemas were kept
    schema_change: dict[str, Any] | None = None  # None: new, same schema, or not known


def shape(record: DatasetRecord) -> list[tuple[str, str, bool]]:
    """Column names, types and nullability, in order."""
    return [(c.name, c.type, c.nullable) for c in record.columns]


def schema_hash(record: DatasetRecord) -> str:
    """Hash of column names, types and nullability, in order: equal hashes mean no drift."""
    return _hash_of_shape(json.dumps(shape(record)))


def _hash_of_shape(shape_json: str) -> str:
    return hashlib.sha256(shape_json.encode()).hexdigest()[:16]


def schema_change(before: Columns, after: Columns) -> dict[str, Any]:
    """Columns added, removed and retyped between two schemas (empty lists when equal).

    When both schemas carry nullability, `nullability` lists the columns whose
    nullability flipped (`{"column", "from", "to"}`, booleans).
    """
    old = {c[0]: tuple(c[1:]) for c in before}
    new = {c[0]: tuple(c[1:]) for c in after}
    kept = [name for name in new if name in old]
    change: dict[str, Any] = {
        "added": [name for name in new if name not in old],
        "removed": [name for name in old if name not in new],
        "retyped": [{"column": n, "from": old[n][0], "to": new[n][0]} for n in kept if old[n][0] != new[n][0]],
    }
    if all(len(c) > 2 for c in [*before, *after]):
        change["nullability"] = [
            {"column": n, "from": old[n][1], "to": new[n][1]} for n in kept if old[n][1] != new[n][1]
        ]
    return change


class CatalogStore:
    """Current records by `source/dataset` key, in a SQLite file (created on first write) or,
    for a `postgresql://` URL, in the URL's schema (tables created on first use); the
    control plane's backends (`delegation.backend`) do the connecting and the transactions."""

    def __init__(self, location: Path | str, *, backend: Backend | None = None):
        self.backend: Backend = backend or open_backend(location)
        self.path: Path | None = getattr(self.backend, "path", None)  # the SQLite file, if that is the backend
        self._postgres = isinstance(self.backend, PostgresBackend)
        self._ready = False
        # Each record `all` returned, with the JSON it was parsed from: a record passed back
        # unchanged (the very object, as a rescan keeps it) is compared without serialising it.
        # Records are values: the code copies them (`model_copy`), never changes them in place.
        self._as_read: dict[str, tuple[DatasetRecord, str]] = {}

    @classmethod
    def for_home(cls, home: Home, config: PlatformConfig | None = None) -> CatalogStore:
        """The home's catalog, where `catalog_location` says."""
        return cls(catalog_location(home, config))

    def ensure_schema(self) -> None:
        """The tables, and a SQLite catalog's migration: once per store (again if its SQLite
        file was removed meanwhile)."""
        if self._ready and (self.path is None or self.path.exists()):
            return
        if self._postgres:
            with transaction(self.backend) as con:
                con.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
                if con.execute("SELECT to_regclass('source_errors')").fetchone()[0] is None:
                    con.execute(_POSTGRES_SCHEMA)
        else:
            with closing(self.backend.connect()) as con:
                con.executescript(_SCHEMA)
                self._migrate(con)
        self._ready = True

    def _migrate(self, con: sqlite3.Connection) -> None:
        """Add the history's schema columns to a catalog written before them (once)."""
        if _has_schema_columns(con):
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            if not _has_schema_columns(con):  # another process may have migrated meanwhile
                con.execute("ALTER TABLE scans ADD COLUMN columns TEXT")
                con.execute("ALTER TABLE scans ADD COLUMN schema_change TEXT")
                # The latest row of a dataset describes its current record, so it gets its schema.
                rows = con.execute("SELECT record FROM datasets").fetchall()
                current = [DatasetRecord.model_validate_json(row[0]) for row in rows]
                con.executemany(
                    "UPDATE scans SET columns = ? WHERE id = (SELECT max(id) FROM scans WHERE asset_key = ?)"
                    " AND schema_hash = ?",
                    [(json.dumps(shape(r)), r.key_string, schema_hash(r)) for r in current],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def replace_sources(self, records_by_source: Mapping[str, Sequence[DatasetRecord]]) -> None:
        """Replace several sources in one transaction; datasets no longer found are removed."""
        for source, records in records_by_source.items():
            strays = sorted({r.source for r in records} - {source})
            if strays:
                raise ValueError(f"records of source(s) {strays} passed for source {source!r}")
        scanned_at = datetime.now(UTC).isoformat()
        self.ensure_schema()
        with transaction(self.backend) as con:
            for source, records in records_by_source.items():
                self._replace_source(con, source, records, scanned_at)

    def _replace_source(
        self, con: Any, source: str, records: Sequence[DatasetRecord], scanned_at: str
    ) -> None:
        """Write the records that differ from the stored ones, with a history row each; drop vanished ones."""
        stored = dict(con.execute("SELECT asset_key, record FROM datasets WHERE source = ?", (source,)))
        written = {r.key_string: self._json(r) for r in records}
        changed = [r for r in records if stored.get(r.key_string) != written[r.key_string]]
        stale = (stored.keys() - written.keys()) | {r.key_string for r in changed}
        con.executemany("DELETE FROM datasets WHERE asset_key = ?", [(key,) for key in sorted(stale)])
        con.executemany(
            "INSERT INTO datasets (asset_key, source, record) VALUES (?, ?, ?)",
            [(r.key_string, source, written[r.key_string]) for r in changed],
        )
        shapes = {r.key_string: json.dumps(shape(r)) for r in changed}
        con.executemany(
            "INSERT INTO scans (asset_key, scanned_at, record_count, schema_hash, columns, schema_change)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (r.key_string, scanned_at, r.record_count, _hash_of_shape(shapes[r.key_string]),
                 shapes[r.key_string], _drift(stored.get(r.key_string), r))
                for r in changed
            ],
        )

    def _json(self, record: DatasetRecord) -> str:
        """The record's JSON; for a record `all` returned, the stored JSON it was parsed from
        (which parses to the same record, so nothing is lost by keeping it)."""
        as_read = self._as_read.get(record.key_string)
        return as_read[1] if as_read is not None and as_read[0] is record else record.model_dump_json()

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.path is not None and not self.path.exists():
            return []  # nothing written yet: reading creates no file
        self.ensure_schema()
        with reading(self.backend) as con:
            return con.execute(sql, params).fetchall()

    def record_rows(self) -> list[tuple[str, str]]:
        """Every current record as stored, `(asset_key, record JSON)`, sorted by asset key."""
        rows = self._rows("SELECT asset_key, record FROM datasets ORDER BY asset_key")
        return [(key, record) for key, record in rows]

    def all(self) -> list[DatasetRecord]:
        """Every current record, sorted by asset key."""
        with collector_paused():
            rows = self.record_rows()
            records = [DatasetRecord.model_validate_json(record) for _, record in rows]
        self._as_read = {key: (record, raw) for (key, raw), record in zip(rows, records, strict=True)}
        return records

    def get(self, key_string: str) -> DatasetRecord | None:
        rows = self._rows("SELECT record FROM datasets WHERE asset_key = ?", (key_string,))
        return DatasetRecord.model_validate_json(rows[0][0]) if rows else None

    def record_errors(self, scanned_sources: Sequence[str], errors: Sequence[ScanError]) -> None:
        """Replace the errors of the sources just scanned: a clean rescan clears a source's errors."""
        strays = sorted({e.source for e in errors} - set(scanned_sources))
        if strays:
            raise ValueError(f"errors of source(s) {strays} not among the scanned sources")
        recorded_at = datetime.now(UTC).isoformat()
        self.ensure_schema()
        with transaction(self.backend) as con:
            con.executemany("DELETE FROM source_errors WHERE source = ?", [(s,) for s in scanned_sources])
            con.executemany(
                "INSERT INTO source_errors (source, dataset, recorded_at, message) VALUES (?, ?, ?, ?)",
                [(e.source, e.dataset, recorded_at, e.message) for e in errors],
            )

    def errors(self) -> list[RecordedError]:
        """The errors of the latest scan of each source, by source then dataset (source-level first)."""
        rows = self._rows(
            "SELECT source, dataset, recorded_at, message FROM source_errors"
            f" ORDER BY source, dataset IS NOT NULL, dataset, {'seq' if self._postgres else 'rowid'}"
        )
        return [RecordedError(ScanError(s, d, m), datetime.fromisoformat(at)) for s, d, at, m in rows]

    def history(self, key_string: str) -> list[ScanEntry]:
        """Every scan that changed one dataset's record, oldest first, with its schema and schema change."""
        rows = self._rows(
            "SELECT asset_key, scanned_at, record_count, schema_hash, columns, schema_change FROM scans"
            " WHERE asset_key = ? ORDER BY id",
            (key_string,),
        )
        return [
            ScanEntry(
                key, datetime.fromisoformat(at), count, hashed,
                columns=None if columns is None else [tuple(c) for c in json.loads(columns)],
                schema_change=None if change is None else json.loads(change),
            )
            for key, at, count, hashed, columns, change in rows
        ]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off meanwhile (unless it was off already).

    Parsing or building thousands of records makes millions of objects and no reference
    cycles; each collection the allocations set off walks every object still alive, so at
    10,000 records the collector took four fifths of `all`. Cycles made meanwhile are
    collected once it is on again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _has_schema_columns(con: sqlite3.Connection) -> bool:
    return "schema_change" in {row[1] for row in con.execute("PRAGMA table_info(scans)")}


def _drift(stored: str | None, record: DatasetRecord) -> str | None:
    """The schema change from the stored record's JSON to `record`, as JSON; None when new or unchanged."""
    if stored is None:
        return None
    before = [(c["name"], c["type"], c.get("nullable", True)) for c in json.loads(stored)["columns"]]
    after = shape(record)
    return None if before == after else json.dumps(schema_change(before, after))
