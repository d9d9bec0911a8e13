"""SQLite's one writer: every Store of a process on the same database file queues its writers on
one FIFO lock (flows/store/engine.py), not on SQLite's busy handler, whose growing sleeps starved
`runbook demo`'s players (a Store of their own beside the server's) for seconds an answer; a
write transaction opened inside another on the same file, in one thread, is refused at once
instead of waiting for itself."""

from __future__ import annotations

import threading

import pytest

from flows.store import Store, utcnow


def test_stores_on_one_sqlite_file_take_turns_in_arrival_order(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    first, second = Store(url), Store(url)
    assert first._writer is second._writer, "one queue for the file"
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with first.transaction() as tx:
            tx.put_setting("held", "first", utcnow())
            holding.set()
            assert release.wait(60)
            order.append("first")

    def queue() -> None:
        with second.transaction() as tx:
            order.append("second")
            assert tx.setting("held") == "first", "it began after the first committed"

    try:
        a = threading.Thread(target=hold)
        a.start()
        assert holding.wait(60)
        b = threading.Thread(target=queue)
        b.start()
        b.join(0.5)
        assert b.is_alive() and order == [], "the second store's writer waits for the first's commit"
        release.set()
        a.join(60)
        b.join(60)
        assert order == ["first", "second"]
    finally:
        release.set()
        first.dispose()
        second.dispose()


def test_a_write_transaction_inside_another_on_the_same_file_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    outer, inner = Store(url), Store(url)
    try:
        with outer.transaction():
            with pytest.raises(RuntimeError, match="inside another"):
                with inner.transaction():
                    pass
        with inner.transaction() as tx:  # nothing was left held
            tx.put_setting("after", "yes", utcnow())
    finally:
        outer.dispose()
        inner.dispose()
