"""grant step: its rendered `with:` request sent as an http step's (allowlist, Idempotency-Key,
expected statuses; recorded, not sent, in a drill) → `{status, json, grant_id, asset}`: the
IAM's id for the grant from its answer, and the asset the request names, for the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import http
from .base import StepJob


def grant_id_of(answer: Any) -> str | None:
    """The IAM's id for the grant: `grant_id`, `id`, or `grant.id` of its JSON answer."""
    if not isinstance(answer, Mapping):
        return None
    for key in ("grant_id", "id"):
        value = answer.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    inner = answer.get("grant")
    return grant_id_of(inner) if isinstance(inner, Mapping) else None


def execute(job: StepJob) -> dict[str, Any]:
    outputs = http.execute(job)
    body = job.params["with"].get("json")
    asset = body.get("asset") if isinstance(body, Mapping) else None
    return {
        **outputs,
        "grant_id": grant_id_of(outputs.get("json")),
        "asset": None if asset in (None, "") else str(asset),
    }
