"""Idempotency-Key: the first answer to a request is kept in the transaction that made its
change, and a repeat of the same request (same key, same body) gets that answer again and
changes nothing; the same key with another request is a conflict. One implementation for the
engine's operations, whatever edge (API, pages, CLI) the key came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .errors import Conflict, Invalid
from .store import IntegrityError, Reader, Store, Tx

T = TypeVar("T")
MAX_KEY = 200
Idem = tuple[str, str]  # (scoped key, fingerprint of the request)


def key_for(identity: str, key: str | None, request: Mapping[str, Any]) -> Idem | None:
    """A caller's key scoped to the person (two accounts of one person share their keys)."""
    if not key:
        return None
    if len(key) > MAX_KEY:
        raise Invalid(f"Idempotency-Key is at most {MAX_KEY} characters")
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    return f"{identity}:{key}", fingerprint


def seen(reader: Reader, idem: Idem | None) -> Any | None:
    """The first answer to this key's request, None if it is new; Conflict for another request."""
    if idem is None:
        return None
    row = reader.idempotent(idem[0])
    if row is None:
        return None
    if row["fingerprint"] != idem[1]:
        raise Conflict("this Idempotency-Key was used for a different request")
    return row["response"]


def remember(tx: Tx, idem: Idem | None, response: Any) -> None:
    if idem is not None:
        tx.save_idempotent(idem[0], idem[1], response)


def once(store: Store, idem: Idem | None, act: Callable[[Tx], T]) -> T:
    """`act` in one transaction whose answer is kept under the key; a repeat gets it back. Two
    concurrent first requests: the one that commits second fails on the key and is answered
    as the first."""
    try:
        with store.transaction() as tx:
            first = seen(tx, idem)
            if first is not None:
                return first
            result = act(tx)
            remember(tx, idem, result)
            return result
    except IntegrityError:
        with store.read() as r:
            first = seen(r, idem)
        if first is None:
            raise
        return first
