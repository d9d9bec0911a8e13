"""Console channel: each notification → a line on stdout and one JSON object a line appended to
`$RUNBOOK_HOME/console.jsonl` (the body of the generic webhook; mode 600: it holds personal links,
which the stdout line redacts). A batch is written, flushed
and fsynced once: when `send` returns, the batch is on disk."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..redact import redact_links
from .base import SENT, Outcome, Outgoing, retry

_lock = threading.Lock()


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("id")


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: Any = None, allowed: frozenset[str] = frozenset()
) -> Iterator[Outcome]:
    home = Path(config["home"])
    lines = "".join(json.dumps(m.body(), ensure_ascii=False, sort_keys=True) + "\n" for m in messages)
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(home / "console.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with _lock, open(fd, "a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        yield from [retry(f"cannot write console.jsonl: {e.strerror}")] * len(messages)
        return
    if config.get("echo", True):
        # stdout ends up in logs: links there are redacted (console.jsonl, mode 600, has them)
        out = "".join(f"[{m.recipient}] {redact_links(m.text)}\n" for m in messages)
        sys.stdout.write(out)
        sys.stdout.flush()
    yield from [SENT] * len(messages)
