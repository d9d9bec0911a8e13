"""Audit chain: an entry + the previous hash → its hash; a chain of entries → where it breaks.

Each audit row is hashed with the one before it (per chain: a run, or `site:<id>`), and the
chain's head (count and last hash) is kept apart. Editing, deleting or inserting a row, or
cutting the tail, no longer verifies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def canonical(entry: Mapping[str, Any]) -> str:
    at = entry["at"]
    body = {
        "chain": entry["chain"],
        "n": int(entry["n"]),
        "at": at.isoformat() if isinstance(at, datetime) else str(at),
        "actor": entry["actor"],
        "action": entry["action"],
        "target": entry.get("target"),
        "reason": entry.get("reason"),
        "detail": entry.get("detail"),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + "\n" + canonical(entry)).encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    verified: bool
    entries: int
    problems: tuple[str, ...]


def verify_chain(entries: Iterable[Mapping[str, Any]], head: Mapping[str, Any] | None) -> Verification:
    problems: list[str] = []
    prev = GENESIS
    count = 0
    for expected_n, entry in enumerate(entries, start=1):
        count += 1
        if int(entry["n"]) != expected_n:
            problems.append(f"entry {expected_n} is missing (found {entry['n']} in its place)")
            break
        if entry["prev_hash"] != prev:
            problems.append(f"entry {expected_n} does not follow entry {expected_n - 1}")
        if entry_hash(entry["prev_hash"], entry) != entry["hash"]:
            problems.append(f"entry {expected_n} ({entry['action']} {entry.get('target') or ''}) was altered")
        prev = entry["hash"]
    if head is not None and not problems:
        if int(head["n"]) != count:
            problems.append(f"the chain has {count} entries but its head says {head['n']}: entries were removed")
        elif head["hash"] != prev:
            problems.append("the last entry does not match the chain's head")
    return Verification(not problems, count, tuple(problems))
