"""Findings, as the Engine's part: a manager records what a run showed (observation,
discussion, recommendation) with an owner and a due date, also after the run ended; closing
one takes a reason. They live on the site's audit chain (`site:<id>`), not the run's, so they
outlive it; the owner hears `finding.due` from the due time on, once a day (scaled by the
finding's `time_scale`), until it is closed — the runner's timer calls `remind_due`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from runbooks.models import DURATION_RE, parse_duration

from . import idempotency, notify, rules
from .actors import Actor
from .errors import Conflict, Invalid, NotFound
from .run_ops import time_scale
from .store import Store, Tx, utcnow
from .views import iso

REMIND_EVERY = 86400  # seconds (scaled): the owner is reminded once a day until it is closed
MAX_TEXT = 4000
ID_RE = re.compile(r"^f[0-9a-f]{8}$")


def finding_json(f: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    return {
        "id": f["id"],
        "site": f["site_id"],
        "run": f["run_id"],
        "runbook": f["runbook_id"],
        "observation": f["observation"],
        "discussion": f["discussion"],
        "recommendation": f["recommendation"],
        "owner": f["owner"],
        "due_at": iso(f["due_at"]),
        "overdue": f["state"] == "open" and now > f["due_at"],
        "state": f["state"],
        "created_at": iso(f["created_at"]),
        "created_by": f["created_by"],
        "closed_at": iso(f["closed_at"]),
        "closed_by": f["closed_by"],
        "reason": f["close_reason"],
        "reminders": f["reminders"],
    }


def _text(value: str | None, what: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise Invalid(f"a finding needs {what} (--{what})")
        return None
    if len(text) > MAX_TEXT:
        raise Invalid(f"--{what} is {len(text)} characters; at most {MAX_TEXT}")
    return text


class FindingOps:
    def __init__(self, store: Store):
        self.store = store

    def add_finding(
        self,
        run_id: str,
        actor: Actor,
        *,
        observation: str | None,
        recommendation: str | None,
        owner: str | None,
        due: str | None,
        discussion: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """A manager's finding about a run (running or ended), on the site's audit chain."""
        rules.require_manager(actor, "record a finding")
        observation = _text(observation, "observation", required=True)
        recommendation = _text(recommendation, "recommendation", required=True)
        discussion = _text(discussion, "discussion", required=False)
        if not due or not DURATION_RE.match(due):
            raise Invalid(f'--due takes a duration such as 14d or 36h, got "{due or ""}"')
        with self.store.read() as r:
            run = r.run_head(run_id)
            if run is None:
                raise NotFound(rules.unknown_run(r, run_id))
        site = rules.site_named(run["site_id"], allow_path=False)
        target = rules.check_target(site, owner)
        scale = time_scale()
        request = {"op": "finding", "run": run_id, "observation": observation, "owner": target, "due": due}

        def act(tx: Tx) -> dict[str, Any]:
            now = utcnow()
            due_at = now + timedelta(seconds=parse_duration(due) / scale)
            fid = "f" + secrets.token_hex(4)
            tx.lock_chain(f"site:{site.id}")
            tx.insert_finding(
                {
                    "id": fid,
                    "site_id": site.id,
                    "run_id": run_id,
                    "runbook_id": run["runbook_id"],
                    "observation": observation,
                    "discussion": discussion,
                    "recommendation": recommendation,
                    "owner": target,
                    "due_at": due_at,
                    "state": "open",
                    "created_at": now,
                    "created_by": actor.label,
                    "time_scale": scale,
                    "remind_at": due_at,
                }
            )
            tx.append_audit(
                f"site:{site.id}",
                actor=actor.label,
                action="finding.add",
                target=fid,
                detail={"run": run_id, "owner": target, "due_at": due_at.isoformat(), "observation": observation},
                at=now,
            )
            return {"finding": fid}

        fid = idempotency.once(self.store, idempotency.key_for(actor.identity, key, request), act)["finding"]
        return self.finding(fid)

    def close_finding(self, finding_id: str, actor: Actor, *, reason: str | None, key: str | None = None) -> dict:
        """Closed with a reason (a manager's decision, audited on the site's chain); reminders stop."""
        rules.require_manager(actor, "close a finding")
        if not reason or not reason.strip():
            raise Invalid("closing a finding needs a reason (--reason)")
        if not ID_RE.match(finding_id):
            raise NotFound(f'no finding "{finding_id}"')

        def act(tx: Tx) -> dict[str, Any]:
            found = tx.finding(finding_id)
            if found is None:
                raise NotFound(f'no finding "{finding_id}"')
            tx.lock_chain(f"site:{found['site_id']}")
            now = utcnow()
            if not tx.close_finding(finding_id, at=now, by=actor.label, reason=reason.strip()):
                raise Conflict(f"finding {finding_id} is closed already ({found['close_reason']})")
            tx.append_audit(
                f"site:{found['site_id']}",
                actor=actor.label,
                action="finding.close",
                target=finding_id,
                reason=reason.strip(),
                detail={"run": found["run_id"]},
                at=now,
            )
            return {"finding": finding_id}

        request = {"op": "finding.close", "id": finding_id, "reason": reason}
        idempotency.once(self.store, idempotency.key_for(actor.identity, key, request), act)
        return self.finding(finding_id)

    def finding(self, finding_id: str) -> dict[str, Any]:
        with self.store.read() as r:
            found = r.finding(finding_id)
        if found is None:
            raise NotFound(f'no finding "{finding_id}"')
        return finding_json(found)

    def findings(self, site_id: str | None = None, *, open_only: bool = False) -> dict[str, Any]:
        """A site's findings (every site's without one), oldest first; `open_only` the open ones."""
        site = rules.site_named(site_id, allow_path=False).id if site_id else None
        now = utcnow()
        with self.store.read() as r:
            rows = r.findings(site_id=site, open_only=open_only)
        return {"site": site, "findings": [finding_json(f, now) for f in rows]}


def remind_due(store: Store, now: datetime | None = None) -> int:
    """Open findings past their due time whose reminder is due: `finding.due` to the owner, in
    one transaction each with an audit row on the site's chain; the next one a day later."""
    now = now or utcnow()
    with store.read() as r:
        due = r.findings_to_remind(now)
    sent = 0
    for f in due:
        try:
            site = rules.site_named(f["site_id"], allow_path=False)
        except NotFound:
            continue  # the site left the library: nobody to tell
        with store.transaction() as tx:
            tx.lock_chain(f"site:{site.id}")
            fresh = tx.finding(f["id"])
            if fresh is None or fresh["state"] != "open" or fresh["remind_at"] is None or fresh["remind_at"] > now:
                continue  # closed, or reminded by another runner meanwhile
            n = fresh["reminders"] + 1
            notify.queue(
                tx,
                site=site,
                run=None,
                event="finding.due",
                now=now,
                targets=[fresh["owner"]],
                context={},
                data={
                    "n": n,
                    "finding": fresh["id"],
                    "run": fresh["run_id"],
                    "observation": fresh["observation"],
                    "recommendation": fresh["recommendation"],
                    "owner": fresh["owner"],
                    "due": notify.local_time(site, fresh["due_at"]),
                    "link": notify.public_url(tx) + f"/sites/{site.id}/findings",
                },
                scope_id=fresh["id"],
            )
            tx.insert_event(
                {"site_id": site.id, "name": "finding.due", "at": now, "data": {"finding": fresh["id"], "n": n}}
            )
            every = timedelta(seconds=REMIND_EVERY / float(fresh["time_scale"] or 1))
            tx.next_finding_reminder(fresh["id"], remind_at=now + every, reminders=n)
            tx.append_audit(
                f"site:{site.id}",
                actor="engine",
                action="finding.due",
                target=fresh["id"],
                detail={"owner": fresh["owner"], "n": n},
                at=now,
            )
            sent += 1
    return sent
