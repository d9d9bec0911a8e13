"""Loans of agents between sites, as the Engine's part: the borrowing site's manager requests,
the lending site's manager accepts (refused, naming the interval, when it would leave the
lender short — unless forced with a reason) or refuses; either recalls it early with a reason.
Each decision is audited on both sites' chains (`site:<id>`). A loan made while the borrower's
lockdown is a drill is a drill loan: it never changes the lender's real coverage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from . import coverage, signals
from .actors import Actor
from .coverage_ops import CoverageOps, loan_view, queue_of, site_loaded, supplying_run
from .errors import Conflict, Forbidden, Invalid, NotFound
from .loan_requests import audit_loan, file_loan, wake_requester
from .loan_requests import aware as _aware
from .store import Store, utcnow


def loan_json(x: dict[str, Any]) -> dict[str, Any]:
    return {
        **loan_view(x, x["to_site"]),
        "queue": x["queue"],
        "reason": x["reason"],
        "requested_by": x["requested_by"],
        "decided_by": x["decided_by"],
        "note": x["note"],
        "forced": bool(x["forced"]),
    }


class LoanOps:
    def __init__(self, store: Store):
        self.store = store
        self.cover = CoverageOps(store)

    def loans(self, *, site: str | None = None) -> list[dict[str, Any]]:
        with self.store.read() as r:
            return [loan_json(x) for x in r.loans(site=site)]

    def request_loan(
        self,
        actor: Actor,
        *,
        from_site: str,
        to_site: str,
        queue: str,
        agents: int,
        start: dt.datetime,
        end: dt.datetime,
        reason: str | None,
    ) -> dict[str, Any]:
        """The borrowing site's manager asks the lender for `agents` on `queue` in [start, end)."""
        _manager_of(actor, to_site, "request a loan to")
        sites = {name: site_loaded(name, allow_path=False) for name in {from_site, to_site}}
        with self.store.transaction() as tx:
            row = file_loan(
                tx,
                sites,
                from_site=from_site,
                to_site=to_site,
                queue=queue,
                agents=agents,
                start=start,
                end=end,
                reason=reason,
                by=actor.label,
                now=utcnow(),
            )
        return loan_json(row)

    def accept_loan(
        self, loan_id: str, actor: Actor, *, force: bool = False, reason: str | None = None
    ) -> dict[str, Any]:
        """The lender's manager accepts; refused when it would leave the lender short in an
        interval of [start, end), unless forced with a reason."""
        loan = self._loan(loan_id)
        _manager_of(actor, loan["from_site"], "accept a loan from")
        if force and (not reason or not reason.strip()):
            raise Invalid("forcing a loan that leaves the lender short needs a reason (--reason)")
        if loan["state"] != "requested":
            raise Conflict(f"loan {loan_id} is {loan['state']}")
        short = self.lender_short(loan)
        if short is not None and not force:
            raise Conflict(
                f'lending {loan["agents"]} agents would leave "{loan["from_site"]}" short in '
                f"{coverage.gap_text(short)}: refused (force it with a reason)"
            )
        return self._decide(loan, actor, "active", "loan.accept", reason, forced=short is not None)

    def refuse_loan(self, loan_id: str, actor: Actor, *, reason: str | None) -> dict[str, Any]:
        loan = self._loan(loan_id)
        _manager_of(actor, loan["from_site"], "refuse a loan from")
        if not reason or not reason.strip():
            raise Invalid("refusing a loan needs a reason (--reason)")
        if loan["state"] != "requested":
            raise Conflict(f"loan {loan_id} is {loan['state']}")
        return self._decide(loan, actor, "refused", "loan.refuse", reason)

    def recall_loan(self, loan_id: str, actor: Actor, *, reason: str | None) -> dict[str, Any]:
        """Either site's manager ends an active loan early: from now, nobody is lent."""
        loan = self._loan(loan_id)
        if not (actor.manages and (actor.acts_on(loan["from_site"]) or actor.acts_on(loan["to_site"]))):
            raise Forbidden(f"only a manager of {loan['from_site']} or {loan['to_site']} can recall loan {loan_id}")
        if not reason or not reason.strip():
            raise Invalid("recalling a loan needs a reason (--reason)")
        if loan["state"] != "active":
            raise Conflict(f"loan {loan_id} is {loan['state']}: only an active loan is recalled")
        now = utcnow()
        end = min(_aware(loan["end_at"]), max(now, _aware(loan["start_at"])))
        return self._decide(loan, actor, "recalled", "loan.recall", reason, end_at=end)

    def lender_short(self, loan: dict[str, Any]) -> list[Mapping[str, Any]] | None:
        """The first gap the lender would have in [start, end) with these agents lent out."""
        site = self.cover.coverage_site(loan["from_site"], allow_path=False)
        queue = queue_of(site, loan["queue"])
        start, end = _aware(loan["start_at"]), _aware(loan["end_at"])
        hours = max(1, int((end - start).total_seconds() // 3600) + 1)
        with self.store.read() as r:
            run = supplying_run(r, site.id, queue)
            staffed = coverage.supply_of(r, run["id"], queue) if run else coverage.Staffed(baseline=True)
            others = coverage.site_loans(r, site.id, queue.id)
        lent = [*others, {**loan, "state": "active", "drill": False}]
        staffed = coverage.with_loans(staffed, site.id, lent, drill=bool(run and run["drill"]))
        rows = coverage.intervals(site, queue, coverage.window(site, queue, start, hours), staffed)
        inside = [r for r in rows if start <= _parse(r["start"]) < end]
        found = coverage.gaps(inside)
        return found[0] if found else None

    def _loan(self, loan_id: str) -> dict[str, Any]:
        with self.store.read() as r:
            loan = r.loan(loan_id)
        if loan is None:
            raise NotFound(f"no loan {loan_id!r}")
        return loan

    def _decide(
        self,
        loan: dict[str, Any],
        actor: Actor,
        state: str,
        action: str,
        reason: str | None,
        *,
        forced: bool = False,
        end_at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        now = utcnow()
        values: dict[str, Any] = {"state": state, "decided_by": actor.label, "note": reason, "forced": forced}
        if end_at is not None:
            values["end_at"] = end_at
        with self.store.transaction() as tx:
            if not tx.set_loan(loan["id"], expect=[loan["state"]], at=now, **values):
                raise Conflict(f"loan {loan['id']} changed meanwhile")
            row = tx.loan(loan["id"])
            assert row is not None
            audit_loan(tx, row, actor.label, action, reason, now, forced=forced)
            run_id = wake_requester(tx, row, now)
        if run_id is not None:
            signals.publish(run_id)  # its runner looks at once
        return loan_json(row)


def _manager_of(actor: Actor, site_id: str, what: str) -> None:
    if not actor.manages:
        raise Forbidden(f"only a manager can {what} a site")
    if not actor.acts_on(site_id):
        raise Forbidden(f"{actor.label} manages {', '.join(sorted(actor.sites))}, not {site_id}: cannot {what} it")


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
