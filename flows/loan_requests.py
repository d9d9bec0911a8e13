"""Loan requests, written: a request's sites, queue, agents and window checked against the
borrower's lockdown → the loan row (`requested`) and its audit on both sites' chains. Shared by a
manager's request (flows/loan_ops.py) and a runbook's `loan` step (flows/kinds/loan.py)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from runbooks.library import NotFound as LibraryNotFound
from runbooks.library import find_site
from runbooks.loan_checks import MAX_LOAN_HOURS
from runbooks.sites import Site, load_site

from .errors import Conflict, Invalid
from .store import Tx


def chain_of(site_id: str) -> str:
    return f"site:{site_id}"


def lending_site(name: str) -> Site:
    """The lending site of a runbook's loan, by id (Invalid naming the known ones if none)."""
    try:
        return load_site(find_site(name, allow_path=False))
    except LibraryNotFound as e:
        raise Invalid(f"the lending site: {e}") from None


def file_loan(
    tx: Tx,
    sites: Mapping[str, Site],
    *,
    from_site: str,
    to_site: str,
    queue: str,
    agents: int,
    start: dt.datetime,
    end: dt.datetime,
    reason: str | None,
    by: str,
    now: dt.datetime,
    loan_id: str | None = None,
    drill: bool = False,
) -> dict[str, Any]:
    """A loan request checked and written in `tx` (audited on both sites' chains): from a
    manager (flows/loan_ops.py) or from a runbook's `loan` step (flows/kinds/loan.py); `sites`
    holds both sites, loaded. Invalid or Conflict saying why when it cannot be filed."""
    if not reason or not reason.strip():
        raise Invalid("a loan request needs a reason (--reason)")
    if from_site == to_site:
        raise Invalid("a site cannot lend to itself")
    if isinstance(agents, bool) or not isinstance(agents, int) or not 1 <= agents <= 10_000:
        raise Invalid(f"agents must be from 1 to 10000, got {agents}")
    start, end = aware(start), aware(end)
    if end <= start:
        raise Invalid(f"the loan ends ({iso(end)}) before it starts ({iso(start)})")
    for site_id in (from_site, to_site):
        site = sites[site_id]
        if queue not in site.service:
            raise Invalid(
                f'site "{site_id}" has no queue "{queue}" to lend or borrow on '
                f"(queues: {', '.join(site.service) or 'none'})"
            )
    lockdown = tx.active_lockdown(to_site)
    if lockdown is None:
        raise Conflict(f'site "{to_site}" is not in lockdown: it has nothing to borrow for')
    declared = aware(lockdown["declared_at"])
    hours = (end - start).total_seconds() / 3600
    if start < declared or hours > MAX_LOAN_HOURS:
        raise Invalid(
            f"the loan ({iso(start)} to {iso(end)}, {hours:g} h) is longer than the lockdown of "
            f'"{to_site}" allows: from its declaration ({iso(declared)}) for at most {MAX_LOAN_HOURS} h'
        )
    row = {
        "id": loan_id or "l" + secrets.token_hex(4),
        "from_site": from_site,
        "to_site": to_site,
        "queue": queue,
        "agents": agents,
        "start_at": start,
        "end_at": end,
        "reason": reason,
        "state": "requested",
        "drill": bool(lockdown["drill"]) or drill,
        "requested_by": by,
        "decided_by": None,
        "note": None,
        "forced": False,
        "created_at": now,
        "updated_at": now,
    }
    tx.insert_loan(row)
    audit_loan(tx, row, by, "loan.request", reason, now)
    return row


def wake_requester(tx: Tx, loan: Mapping[str, Any], now: dt.datetime) -> str | None:
    """A loan a runbook's step asked for was decided: its task is due for the runner's look now
    (it ends it). The requesting run's id, or None (a manager's own request)."""
    by = str(loan["requested_by"] or "")
    if not by.startswith("run:"):
        return None
    run_id = by.removeprefix("run:")
    for task in tx.tasks(run_id, states=["ready"]):
        if task["kind"] == "loan" and (task["outputs"] or {}).get("loan") == loan["id"]:
            tx.update_task(run_id, task["id"], expect=["ready"], next_attempt_at=now)
    return run_id


def audit_loan(
    tx: Tx, loan: dict[str, Any], actor: str, action: str, reason: str | None, at: dt.datetime, **kw: Any
) -> None:
    detail = {
        "loan": loan["id"],
        "from": loan["from_site"],
        "to": loan["to_site"],
        "queue": loan["queue"],
        "agents": loan["agents"],
        "start": iso(loan["start_at"]),
        "end": iso(loan["end_at"]),
        "drill": bool(loan["drill"]),
        **kw,
    }
    for site_id in sorted({loan["from_site"], loan["to_site"]}):
        tx.append_audit(
            chain_of(site_id), actor=actor, action=action, target=loan["id"], reason=reason, detail=detail, at=at
        )


def aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return aware(moment).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
