"""The local store of session summaries, which is also the MQTT outbox (SQLite, stdlib).

Every summary is stored here first, keyed by ``session_id``; the publisher later marks it sent
once the broker has acknowledged it. Storing the same document again is a no-op; storing a
changed document for a known session (a re-analysis) replaces it and queues it again.

The methods are blocking: async code calls them through ``asyncio.to_thread``. Each call
opens its own short-lived connection, so calls from different threads are safe; SQLite's
WAL journal lets a reader run while another process writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensor.errors import HipthrustError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS summaries (
    session_id TEXT PRIMARY KEY,
    document   TEXT NOT NULL,
    stored_at  REAL NOT NULL,   -- unix time, s
    seq        INTEGER NOT NULL, -- insertion order: the largest is the latest session
    sent_at    REAL,            -- unix time the broker acknowledged it, NULL while pending
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS summaries_pending ON summaries (seq) WHERE sent_at IS NULL;
"""


class StoreError(HipthrustError):
    """The local summary store cannot be opened or written."""


@dataclass(frozen=True)
class StoredSummary:
    session_id: str
    document: str  # the JSON text, exactly as published
    seq: int


@dataclass(frozen=True)
class StoreCounts:
    total: int
    pending: int


class SummaryStore:
    """SQLite file of summaries; ``path`` is created with its parent directories on first use."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self.path = path
        self._timeout_s = timeout_s
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"summary store {path}: {exc}") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection whose block is one write-locked transaction (committed on success).

        ``BEGIN IMMEDIATE`` takes the write lock up front, so two writers never read the
        same ``MAX(seq)``.
        """
        try:
            with closing(sqlite3.connect(self.path, timeout=self._timeout_s,
                                         isolation_level=None)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")  # a stored summary survives power loss
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"summary store {self.path}: {exc}") from None

    def add(self, doc: dict[str, Any]) -> bool:
        """Store a summary document; returns True if it is new or changed (and so queued)."""
        return self.add_many([doc]) == 1

    def add_many(self, docs: Sequence[dict[str, Any]]) -> int:
        """Store several documents in one transaction; returns how many were new or changed."""
        rows = []
        for doc in docs:
            session_id = doc.get("session_id")
            if not isinstance(session_id, str) or not session_id:
                raise StoreError("a summary without session_id cannot be stored")
            rows.append((session_id, json.dumps(doc, separators=(",", ":"), sort_keys=True)))
        changed = 0
        now = time.time()
        with self._connect() as db:
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM summaries").fetchone()
            for session_id, text in rows:
                old = db.execute("SELECT document FROM summaries WHERE session_id = ?",
                                 (session_id,)).fetchone()
                if old is not None and old[0] == text:
                    continue
                seq += 1
                changed += 1
                db.execute(
                    "INSERT INTO summaries (session_id, document, stored_at, seq) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET "
                    "document = excluded.document, stored_at = excluded.stored_at, "
                    "seq = excluded.seq, sent_at = NULL, attempts = 0, last_error = NULL",
                    (session_id, text, now, seq),
                )
        return changed

    def pending(self, limit: int = 100) -> list[StoredSummary]:
        """The oldest summaries not yet acknowledged by a broker."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT session_id, document, seq FROM summaries WHERE sent_at IS NULL "
                "ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [StoredSummary(*r) for r in rows]

    def mark_sent(self, items: Sequence[StoredSummary]) -> None:
        """Mark these versions as acknowledged; a newer version stored meanwhile stays pending."""
        now = time.time()
        with self._connect() as db:
            db.executemany(
                "UPDATE summaries SET sent_at = ?, last_error = NULL "
                "WHERE session_id = ? AND seq = ?",
                [(now, s.session_id, s.seq) for s in items])

    def mark_failed(self, items: Sequence[StoredSummary], error: str) -> None:
        """Count a failed attempt (they stay pending)."""
        with self._connect() as db:
            db.executemany(
                "UPDATE summaries SET attempts = attempts + 1, last_error = ? "
                "WHERE session_id = ? AND seq = ?",
                [(error[:500], s.session_id, s.seq) for s in items])

    def latest(self) -> StoredSummary | None:
        """The most recently stored summary."""
        with self._connect() as db:
            row = db.execute("SELECT session_id, document, seq FROM summaries "
                             "ORDER BY seq DESC LIMIT 1").fetchone()
        return StoredSummary(*row) if row else None

    def documents(self) -> list[dict[str, Any]]:
        """All stored documents, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT document FROM summaries ORDER BY seq").fetchall()
        return [json.loads(r[0]) for r in rows]

    def is_sent(self, session_id: str) -> bool | None:
        """True once the broker acknowledged the stored version, False while pending, None if
        ``session_id`` is not stored."""
        with self._connect() as db:
            row = db.execute("SELECT sent_at IS NOT NULL FROM summaries WHERE session_id = ?",
                             (session_id,)).fetchone()
        return None if row is None else bool(row[0])

    def counts(self) -> StoreCounts:
        with self._connect() as db:
            total, pending = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(sent_at IS NULL), 0) FROM summaries").fetchone()
        return StoreCounts(int(total), int(pending))
