"""Signals: "run X changed" from the code that changed it to the runners of this process, so a
check-off that unblocks automated work wakes the runner at once. On PostgreSQL, other
processes' changes arrive here too (`store/wake.py`, LISTEN/NOTIFY); polling is the fallback."""

from __future__ import annotations

import threading
from collections.abc import Callable

EVERY_RUN = "*"  # published after missed notifications may have been lost: every run may have changed

_listeners: list[Callable[[str], None]] = []
_lock = threading.Lock()


def subscribe(listener: Callable[[str], None]) -> None:
    with _lock:
        _listeners.append(listener)


def unsubscribe(listener: Callable[[str], None]) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def publish(run_id: str) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(run_id)
