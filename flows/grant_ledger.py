"""The grant ledger inside a run's transaction: a `grant` step's answer → a ledger row (person,
system, profile, scope, asset, expiry, next review, the IAM's id); revocations asked for
(an answer that ends a person's pipeline, a laptop returned or missing, a cancelled run,
a stand-down, an expiry, a rejected review) → rows `revoking`, which flows/revoker.py sends,
verifies and retries. Nothing here sends a request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from runbooks.models import parse_duration
from runbooks.plan import PlannedStep

from . import notify
from .runview import RunView
from .store import Tx
from .store.grants import OPEN

STATES = ("active", "revoking", "revoked", "expired", "revoke_failed")


def grant_id_of(run_id: str, task_id: str) -> str:
    return f"{run_id}:{task_id}"


def record(rs: RunView, step: PlannedStep, task: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
    """A grant step's item succeeded: its row on the ledger (once per task), audited."""
    params = step.params
    item = task.get("item")
    person = item.get("id") if isinstance(item, Mapping) else task.get("item_key")
    expires = rs.now + rs.scaled(parse_duration(params["expires"])) if params.get("expires") else None
    review = rs.now + rs.scaled(parse_duration(params["review"])) if params.get("review") else None
    row = {
        "id": grant_id_of(rs.run_id, task["id"]),
        "run_id": rs.run_id,
        "site_id": rs.run["site_id"],
        "drill": bool(rs.run["drill"]),
        "step_id": step.id,
        "task_id": task["id"],
        "person_id": None if person is None else str(person),
        "system": params["system"],
        "profile": str(params["profile"]),
        "scope": list(params.get("scope") or []),
        "asset": outputs.get("asset"),
        "iam_id": outputs.get("grant_id"),
        "owner": task.get("owner") or step.owner,
        "granted_at": rs.now,
        "expires_at": expires,
        "review_at": review,
        "state": "active",
    }
    if rs.tx.insert_grant(row):
        rs.audit(
            "grant.recorded",
            task["id"],
            actor="engine",
            system=row["system"],
            profile=row["profile"],
            person=row["person_id"],
            iam_id=row["iam_id"],
            drill=row["drill"],
        )
    return row


def request_revocation(tx: Tx, grant: Mapping[str, Any], reason: str, now: datetime) -> bool:
    """An open grant is to be revoked (and the revocation verified) now; False if it was not open."""
    if grant["state"] not in OPEN:
        return False
    if grant["state"] == "active":
        return tx.update_grant(
            grant["id"], expect=["active"], state="revoking", reason=reason, attempts=0, next_attempt_at=now
        )
    return tx.update_grant(grant["id"], expect=[grant["state"]], next_attempt_at=now)  # retrying: try at once


def revoke(rs: RunView, grants: Iterable[Mapping[str, Any]], reason: str) -> int:
    """Revoke these grants of the run (audited in its chain); how many were asked for."""
    asked = 0
    for grant in grants:
        if request_revocation(rs.tx, grant, reason, rs.now):
            rs.audit("grant.revoke_requested", grant["task_id"], reason, actor="engine", grant=grant["id"])
            asked += 1
    return asked


def revoke_person(rs: RunView, person_id: str, reason: str) -> int:
    return revoke(rs, rs.tx.grants(run_id=rs.run_id, person_id=person_id, states=["active"]), reason)


def revoke_asset(rs: RunView, asset: str, reason: str) -> int:
    """A laptop returned or missing: the grants made for it, in any run of the site."""
    found = [g for g in rs.tx.grants(site_id=rs.run["site_id"], states=["active"]) if g["asset"] == asset]
    return revoke(rs, found, reason)


def revoke_run(rs: RunView, reason: str) -> int:
    return revoke(rs, rs.tx.grants(run_id=rs.run_id, states=["active"]), reason)


def revoke_site(tx: Tx, site_id: str, drill: bool, reason: str, now: datetime, actor: str) -> int:
    """A stand-down: every open grant of the site's lockdown (a drill's, or the real ones)."""
    asked = 0
    for grant in tx.grants(site_id=site_id, states=list(OPEN), drill=drill):
        if request_revocation(tx, grant, reason, now):
            asked += 1
    if asked:
        tx.append_audit(
            f"site:{site_id}",
            actor=actor,
            action="grant.revoke_requested",
            target=site_id,
            reason=reason,
            detail={"grants": asked, "drill": drill},
            at=now,
        )
    return asked


def alert(rs: RunView, grant: Mapping[str, Any], event: str, **data: Any) -> None:
    """The grant step's owner and the managers hear of a revocation that failed (or a review
    left undone), in the run's transaction."""
    task = rs.tx.task(rs.run_id, grant["task_id"])
    step = rs.plan.find(grant["step_id"])
    notify.tell(
        rs,
        event,
        [t for t in (grant.get("owner"), "role:manager") if t],
        step=step,
        task=task,
        data={**grant_json(grant, rs.now), **data},
    )


def grant_json(grant: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A ledger row as the API, the CLI and the pages show it (times in ISO 8601 UTC)."""

    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    review_overdue = bool(
        now is not None and grant["state"] == "active" and grant["review_at"] and grant["review_at"] <= now
    )
    return {
        "id": grant["id"],
        "run": grant["run_id"],
        "site": grant["site_id"],
        "drill": bool(grant["drill"]),
        "step": grant["step_id"],
        "task": grant["task_id"],
        "person": grant["person_id"],
        "system": grant["system"],
        "profile": grant["profile"],
        "scope": list(grant["scope"] or []),
        "asset": grant["asset"],
        "iam_id": grant["iam_id"],
        "owner": grant["owner"],
        "state": grant["state"],
        "granted_at": at(grant["granted_at"]),
        "expires_at": at(grant["expires_at"]),
        "review_at": at(grant["review_at"]),
        "review_overdue": review_overdue,
        "review_task": grant["review_task"],
        "reason": grant["reason"],
        "attempts": grant["attempts"],
        "last_error": grant["last_error"],
        "revoked_at": at(grant["revoked_at"]),
        "verified_at": at(grant["verified_at"]),
    }


def next_review(grant: Mapping[str, Any], step: PlannedStep | None, now: datetime, scale: float) -> datetime | None:
    if step is None or not step.params.get("review"):
        return None
    return now + timedelta(seconds=parse_duration(step.params["review"]) / (scale or 1))
