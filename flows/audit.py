"""Audit chain: an entry + the previous hash + the key → its HMAC; a chain of entries (and what
the witness saw of it) → where it breaks.

Each audit row is signed with HMAC-SHA256 over the one before it (per chain: a run, `access`,
`outbox`, `audit`, or `site:<id>`), under a key kept outside the database (flows/audit_keys.py),
and the chain's head (count and last hash) is kept apart. Someone who can write the database but
not read the key cannot recompute the hashes of an edited row; a cut tail or a database restored
from an older copy is caught by the witness (flows/witness.py), which saw the chain longer.
Rows written before the key existed (`key_id` null) are plain SHA-256 until migrated.
"""

from __future__ import annotations

import hashlib
import hmac
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


def legacy_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """The unkeyed SHA-256 of rows written before the audit key (only to migrate them)."""
    return hashlib.sha256((prev_hash + "\n" + canonical(entry)).encode()).hexdigest()


def entry_hash(key: bytes, prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hmac.new(key, (prev_hash + "\n" + canonical(entry)).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verification:
    verified: bool
    entries: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Witnessed:
    """The longest head of a chain the witness saw (since the last re-anchoring)."""

    n: int
    hash: str
    at: str


def verify_chain(
    entries: Iterable[Mapping[str, Any]],
    head: Mapping[str, Any] | None,
    keys: Mapping[str, bytes],
    witnessed: Witnessed | None = None,
) -> Verification:
    """`keys`: key id → key, the current key and the retired ones (a rotation keeps old rows
    verifiable). An entry signed by a key not in `keys` does not verify."""
    problems: list[str] = []
    prev = GENESIS
    count = 0
    hashes: list[str] = []
    for expected_n, entry in enumerate(entries, start=1):
        count += 1
        if int(entry["n"]) != expected_n:
            problems.append(f"entry {expected_n} is missing (found {entry['n']} in its place)")
            break
        if entry["prev_hash"] != prev:
            problems.append(f"entry {expected_n} does not follow entry {expected_n - 1}")
        key_id = entry.get("key_id")
        if key_id is None:
            expected = legacy_hash(entry["prev_hash"], entry)
            if not problems:
                problems.append(f"entry {expected_n} is not signed with the audit key (the chain was not migrated)")
        elif key_id not in keys:
            problems.append(f"entry {expected_n} is signed with key {key_id}, which is not configured")
            expected = entry["hash"]
        else:
            expected = entry_hash(keys[key_id], entry["prev_hash"], entry)
        if not hmac.compare_digest(expected, entry["hash"]):
            problems.append(f"entry {expected_n} ({entry['action']} {entry.get('target') or ''}) was altered")
        prev = entry["hash"]
        hashes.append(prev)
    if head is not None and not problems:
        if int(head["n"]) != count:
            problems.append(f"the chain has {count} entries but its head says {head['n']}: entries were removed")
        elif head["hash"] != prev:
            problems.append("the last entry does not match the chain's head")
    if witnessed is not None:
        if count < witnessed.n:
            problems.append(
                f"the witness saw {witnessed.n} entries at {witnessed.at} but the database has {count}: "
                "its tail was cut or the database was restored from an older copy"
            )
        elif witnessed.n and hashes[witnessed.n - 1] != witnessed.hash:
            problems.append(
                f"entry {witnessed.n} is not the one the witness saw at {witnessed.at}: the chain was rewritten"
            )
    return Verification(not problems, count, tuple(problems))
