"""Shift plans, as the Engine's part: a run's shifts (by person), a lead's swap, a person's
page behind their link (`/s/{token}`), their acknowledgement or "cannot", their `.ics`. Each
change is one transaction of its run (flows/shift_roster.py does the work inside it)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import idempotency, shift_roster
from .actors import Actor, ownership
from .errors import Forbidden, Invalid, NotFound
from .runstate import RunState, plan_of
from .session import change_run
from .shift_ics import shifts_ics
from .store import Store, utcnow

ANSWERS = ("ack", "cannot")


def shift_json(row: dict[str, Any]) -> dict[str, Any]:
    """The contract's shape: `{id, person, queue, start, end, acknowledged, status}`."""
    return {
        "id": row["id"],
        "person": row["person_id"],
        "queue": row["queue"],
        "start": _iso(row["start_at"]),
        "end": _iso(row["end_at"]),
        "acknowledged": row["status"] == "acknowledged",
        "status": row["status"],
        "step": row["step_id"],
    }


class ShiftOps:
    def __init__(self, store: Store):
        self.store = store

    def shifts(self, run_id: str, *, person: str | None = None, all_: bool = False) -> list[dict[str, Any]]:
        """A run's live shifts (planned or acknowledged; `all_`: declined and replaced too)."""
        with self.store.read() as r:
            if r.run(run_id) is None:
                raise NotFound(f"no run {run_id!r}")
            rows = r.shifts(run_id, person=person, statuses=None if all_ else shift_roster.KEPT_STATUSES)
        return [shift_json(row) for row in rows]

    def swap_shift(
        self, run_id: str, shift_id: str, actor: Actor, *, to: str, reason: str | None, key: str | None = None
    ) -> dict[str, Any]:
        """A lead of the step's owner team (or a manager) gives a shift to someone else, with a reason."""
        if not reason or not reason.strip():
            raise Invalid("a swap needs a reason (--reason)")

        def change(rs: RunState) -> Any:
            row = rs.tx.shift(run_id, shift_id)
            if row is None:
                raise NotFound(f"run {run_id} has no shift {shift_id}")
            step = rs.plan.find(row["step_id"])
            owner = step.owner if step is not None else None
            if not actor.manages and ownership(actor, owner or "role:manager", rs.run["site_id"]) == "deny":
                raise Forbidden(f"{actor.label} may not swap the shifts of step {row['step_id']}")
            new = shift_roster.swap(rs, shift_id, to, reason)
            return lambda rs: {"swapped": shift_id, "shift": shift_json(new)}

        request = {"op": "swap", "run": run_id, "shift": shift_id, "to": to, "reason": reason}
        idem = idempotency.key_for(actor.identity, key, request)
        result: dict[str, Any] = change_run(self.store, run_id, actor.label, change, idem=idem)
        return result

    def shift_page(self, token: str) -> dict[str, Any]:
        """What a person's link shows: who, the site, their shifts (all, with status)."""
        with self.store.read() as r:
            rows = r.shifts_by_token(token) if token else []
            if not rows:
                raise NotFound("this shift link is not known (mistyped, or from another message)")
            run = r.run(rows[0]["run_id"])
            if run is None:
                raise NotFound("this shift link is not known")
            plan = plan_of(run, r)
        person = plan.site.person(rows[0]["person_id"]) or {"id": rows[0]["person_id"]}
        return {
            "run": rows[0]["run_id"],
            "site": {"id": plan.site.id, "name": plan.site.name, "timezone": plan.site.timezone},
            "person": {"id": person["id"], "name": person.get("name") or person["id"], "lang": person.get("lang")},
            "drill": bool(run["drill"]),
            "shifts": [shift_json(row) for row in rows if row["status"] != "replaced"],
        }

    def answer_shifts(
        self, token: str, answer: str, *, shifts: list[str] | None = None, note: str | None = None
    ) -> dict[str, Any]:
        """A person's answer through their link: `ack` (acknowledge) or `cannot` their shifts
        (all their planned ones, or those named); `cannot` re-plans without them there."""
        if answer not in ANSWERS:
            raise Invalid(f"answer {answer!r}: one of {', '.join(ANSWERS)}")
        if note is not None and len(note) > 500:
            raise Invalid("a note is at most 500 characters")
        with self.store.read() as r:
            rows = r.shifts_by_token(token) if token else []
        if not rows:
            raise NotFound("this shift link is not known (mistyped, or from another message)")
        run_id, person = rows[0]["run_id"], rows[0]["person_id"]

        def change(rs: RunState) -> Any:
            shift_roster.answer(rs, token, shifts or [], answer, note)
            return lambda rs: None

        change_run(self.store, run_id, f"link:{person}", change)
        return self.shift_page(token)

    def shift_ics(self, token: str) -> bytes:
        page = self.shift_page(token)
        with self.store.read() as r:
            rows = [s for s in r.shifts_by_token(token) if s["status"] in shift_roster.KEPT_STATUSES]
        return shifts_ics(page["site"]["name"], rows, utcnow())


def _iso(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
