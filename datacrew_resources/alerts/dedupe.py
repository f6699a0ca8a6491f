"""One incident, one alert per window: a small SQLite table shared by every process of a home."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

Clock = Callable[[], datetime]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_incidents (
    incident_key TEXT PRIMARY KEY,
    last_sent_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    suppressed INTEGER NOT NULL DEFAULT 0
)
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Deduplicator:
    """Decides whether an incident is alerted now; the decision and its record happen in one transaction."""

    def __init__(self, path: Path, window: timedelta, clock: Clock = utc_now) -> None:
        self.path = Path(path)
        self.window = window
        self.clock = clock

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE takes the write lock up front).
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute(_SCHEMA)
        return con

    def claim(self, incident_key: str) -> bool:
        """True if the incident should be alerted now (and is recorded as sent); False if suppressed (and counted)."""
        now = self.clock().timestamp()
        with closing(self._connect()) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute(
                    "SELECT last_sent_at FROM alert_incidents WHERE incident_key = ?", (incident_key,)
                ).fetchone()
                if row is not None and now - row[0] < self.window.total_seconds():
                    con.execute(
                        "UPDATE alert_incidents SET suppressed = suppressed + 1, last_seen_at = ? WHERE incident_key = ?",
                        (now, incident_key),
                    )
                    send = False
                else:
                    con.execute(
                        "INSERT INTO alert_incidents (incident_key, last_sent_at, last_seen_at, sent, suppressed)"
                        " VALUES (?, ?, ?, 1, 0)"
                        " ON CONFLICT (incident_key) DO UPDATE SET"
                        " last_sent_at = excluded.last_sent_at, last_seen_at = excluded.last_seen_at,"
                        " sent = sent + 1",
                        (incident_key, now, now),
                    )
                    send = True
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return send

    def suppressed(self, incident_key: str) -> int:
        """How many repeats of the incident were suppressed (all windows together)."""
        if not self.path.exists():
            return 0
        with closing(self._connect()) as con:
            row = con.execute(
                "SELECT suppressed FROM alert_incidents WHERE incident_key = ?", (incident_key,)
            ).fetchone()
        return row[0] if row else 0
