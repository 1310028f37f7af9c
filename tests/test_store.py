"""The SQLite outbox: nothing is lost, acknowledged versions only are marked sent."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mqtt_docs import make_doc

from sensor.store import StoreError, SummaryStore


def test_add_pending_mark_sent(tmp_path: Path) -> None:
    store = SummaryStore(tmp_path / "a" / "s.sqlite3")
    assert store.add(make_doc("one"))
    assert store.add(make_doc("two"))
    assert not store.add(make_doc("one"))  # same document again: nothing to do
    pending = store.pending()
    assert [p.session_id for p in pending] == ["one", "two"]
    store.mark_sent(pending[:1])
    assert store.counts().pending == 1
    assert [p.session_id for p in store.pending()] == ["two"]
    latest = store.latest()
    assert latest is not None
    assert latest.session_id == "two"


def test_changed_document_is_queued_again_and_stale_ack_ignored(tmp_path: Path) -> None:
    store = SummaryStore(tmp_path / "s.sqlite3")
    store.add(make_doc("x", left_hold_s=1.0))
    old = store.pending()
    store.add(make_doc("x", left_hold_s=2.0))  # re-analysed while the old one was in flight
    store.mark_sent(old)  # the ack of the old version must not hide the new one
    pending = store.pending()
    assert len(pending) == 1
    assert '"hold_s":2.0' in pending[0].document
    assert store.documents()[0]["legs"]["left"]["hold_s"] == 2.0
    latest = store.latest()
    assert latest is not None
    assert latest.seq == pending[0].seq


def test_survives_reopen_and_failures_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SummaryStore(path)
    store.add_many([make_doc(f"s{i}") for i in range(5)])
    store.mark_failed(store.pending(2), "broker down")
    reopened = SummaryStore(path)
    assert reopened.counts().total == 5
    assert reopened.counts().pending == 5
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT attempts, last_error FROM summaries ORDER BY seq").fetchall()
    assert rows[:3] == [(1, "broker down"), (1, "broker down"), (0, None)]


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = SummaryStore(tmp_path / "s.sqlite3")

    def writer(k: int) -> None:
        for i in range(25):
            store.add(make_doc(f"w{k}-{i}", reps_per_set=1))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.counts().total == 100
    seqs = [p.seq for p in store.pending(200)]
    assert len(set(seqs)) == 100


def test_unusable_store_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="summary store"):
        SummaryStore(blocker / "s.sqlite3")
    with pytest.raises(StoreError, match="without session_id"):
        SummaryStore(tmp_path / "ok.sqlite3").add({"schema": "hipthrust.session"})


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=15))
def test_every_id_stored_exactly_once(tmp_path_factory: pytest.TempPathFactory,
                                      ids: list[str]) -> None:
    store = SummaryStore(tmp_path_factory.mktemp("h") / "s.sqlite3")
    for session_id in ids:
        store.add({"session_id": session_id, "schema": "hipthrust.session"})
    stored = [d["session_id"] for d in store.documents()]
    assert sorted(stored) == sorted(set(ids))
    store.mark_sent(store.pending(100))
    assert store.counts().pending == 0
