"""Redaction for logs: text → the same text with every personal link's token replaced.

A roll-call link (`/r/<token>`) or a shift link (`/s/<token>`) lets whoever holds it answer for
one person: it goes to that person, and to `console.jsonl` (mode 600) for a local operator, never
into a log line."""

from __future__ import annotations

import re

_LINK_TOKEN = re.compile(r"(/[rs]/)[A-Za-z0-9_\-]{6,}")


def redact_links(text: str) -> str:
    return _LINK_TOKEN.sub(r"\1…", text)
