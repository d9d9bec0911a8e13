"""Shift rosters in a run's transaction: a solved plan → shift rows (kept, replaced, new) and
each person whose shifts changed told through their personal channel with their link
(`/s/{token}`, its `.ics`); a person's acknowledgement or "cannot"; a lead's swap; the re-plan
(the shifts task back to ready: the runner solves again)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.plan import PlannedStep

from . import notify
from .errors import Conflict, Invalid, NotFound
from .runview import RunView
from .states import transition

KEPT_STATUSES = ("planned", "acknowledged")


def apply_plan(rs: RunView, step: PlannedStep, task: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """Write the solver's plan: a live shift not started that the plan keeps stays as it is
    (acknowledged or not), one it drops is `replaced`, a new one is `planned`; the people whose
    shifts changed are told. Returns the task's outputs."""
    old = [s for s in rs.tx.shifts(rs.run_id) if s["step_id"] == step.id]
    future = {
        (s["person_id"], _aware(s["start_at"]), _aware(s["end_at"])): s for s in old if _aware(s["start_at"]) > rs.now
    }
    planned = {(s["person"], s["start"], s["end"]): s for s in result["shifts"]}
    changed: set[str] = set()
    for key, row in future.items():
        if key not in planned:
            rs.tx.set_shift(rs.run_id, row["id"], expect=KEPT_STATUSES, at=rs.now, status="replaced", by=rs.actor)
            changed.add(row["person_id"])
    tokens = rs.tx.shift_tokens(rs.run_id)
    number = rs.tx.shift_count(rs.run_id)
    new = []
    for key, s in planned.items():
        if key in future or _aware(s["start"]) <= rs.now:
            continue
        person = s["person"]
        token = tokens.setdefault(person, secrets.token_urlsafe(24))
        number += 1
        new.append(
            {
                "run_id": rs.run_id,
                "id": f"s{number:05d}",
                "step_id": step.id,
                "person_id": person,
                "queue": s["queue"],
                "start_at": s["start"],
                "end_at": s["end"],
                "status": "planned",
                "token": token,
                "by": rs.actor,
                "note": None,
                "updated_at": rs.now,
            }
        )
        changed.add(person)
    rs.tx.insert_shifts(new)
    for person in sorted(changed):
        tell(rs, step, task, person, changed=bool(old))
    short = sum(int(r["short"]) for r in result["shortfall"])
    rs.audit(
        "shifts.planned",
        task["id"],
        shifts=len(result["shifts"]),
        short=short,
        status=result["status"],
        gap=result["gap"],
        changed=len(changed),
    )
    return {
        "shifts": len(rs.tx.shifts(rs.run_id)),
        "people": len({s["person"] for s in result["shifts"]}),
        "short": short,
        "shortfall": [
            {"start": _iso(r["start"]), "end": _iso(r["end"]), "short": r["short"]} for r in result["shortfall"][:200]
        ],
        "status": result["status"],
        "gap": result["gap"],
        "seconds": result["seconds"],
        "first_seconds": result["first_seconds"],
        "kept": result["kept"],
        "spread": dict(result.get("spread") or {}),
        "digest": result.get("digest"),
    }


def tell(rs: RunView, step: PlannedStep | None, task: Mapping[str, Any] | None, person: str, *, changed: bool) -> int:
    """A person's live shifts with their link, through their personal channel, in their language."""
    mine = rs.tx.shifts(rs.run_id, person=person)
    tokens = rs.tx.shift_tokens(rs.run_id)
    if person not in tokens:
        return 0
    data = {
        "changed": changed,
        "shifts": [
            {
                "id": s["id"],
                "queue": s["queue"],
                "start": notify.local_time(rs.plan.site, _aware(s["start_at"])),
                "end": notify.local_time(rs.plan.site, _aware(s["end_at"])),
            }
            for s in mine
        ],
    }
    return notify.queue(
        rs.tx,
        site=rs.plan.site,
        run=rs.run,
        event="shifts.assigned",
        now=rs.now,
        task=task,
        targets=[f"person:{person}"],
        context={**rs.context(step, task), "runbook_name": rs.plan.name},
        data=data,
        link=f"{notify.public_url(rs.tx)}/s/{tokens[person]}",
        personal=True,
        send_in_drill=step is not None and step.drill == "send",
        scope_id=f"shifts-{rs.tx.last_event_seq(rs.run_id)}",
    )


def answer(rs: RunView, token: str, shift_ids: Sequence[str], answer: str, note: str | None) -> list[dict[str, Any]]:
    """A person's answer by link: `ack` acknowledges shifts, `cannot` declines them (and the plan
    is redone without them on those shifts)."""
    mine = {s["id"]: s for s in rs.tx.shifts_by_token(token) if s["run_id"] == rs.run_id}
    if not mine:
        raise NotFound("no shifts behind this link")
    wanted = list(shift_ids) or [i for i, s in mine.items() if s["status"] == "planned"]
    unknown = [i for i in wanted if i not in mine]
    if unknown:
        raise Invalid(f"not your shift: {', '.join(unknown)}")
    person = next(iter(mine.values()))["person_id"]
    status = {"ack": "acknowledged", "cannot": "declined"}[answer]
    for shift_id in wanted:
        row = mine[shift_id]
        if row["status"] not in KEPT_STATUSES:
            raise Conflict(f"shift {shift_id} is {row['status']}")
        if _aware(row["start_at"]) <= rs.now and answer == "cannot":
            raise Conflict(f"shift {shift_id} has started: call your lead")
        rs.tx.set_shift(rs.run_id, shift_id, expect=KEPT_STATUSES, at=rs.now, status=status, by=person, note=note)
        rs.audit(f"shift.{status}", shift_id, note, actor=f"person:{person}", step=row["step_id"])
    if answer == "cannot":
        replan(rs, next(iter(mine.values()))["step_id"], f"{person} cannot work {', '.join(wanted)}")
    return rs.tx.shifts_by_token(token)


def swap(rs: RunView, shift_id: str, to: str, reason: str) -> dict[str, Any]:
    """A lead gives a shift to someone else (who is told, as is the one who had it)."""
    row = rs.tx.shift(rs.run_id, shift_id)
    if row is None:
        raise NotFound(f"run {rs.run_id} has no shift {shift_id}")
    if row["status"] not in KEPT_STATUSES:
        raise Conflict(f"shift {shift_id} is {row['status']}: it cannot be swapped")
    if rs.plan.site.person(to) is None:
        raise Invalid(f'site "{rs.plan.site.id}" has no person "{to}"')
    if to == row["person_id"]:
        raise Invalid(f"shift {shift_id} is already {to}'s")
    if not reason or not reason.strip():
        raise Invalid("a swap needs a reason")
    busy = [
        s["id"]
        for s in rs.tx.shifts(rs.run_id, person=to)
        if _aware(s["start_at"]) < _aware(row["end_at"]) and _aware(row["start_at"]) < _aware(s["end_at"])
    ]
    if busy:
        raise Conflict(f"{to} already works shift {busy[0]} at that time")
    tokens = rs.tx.shift_tokens(rs.run_id)
    number = rs.tx.shift_count(rs.run_id) + 1
    rs.tx.set_shift(rs.run_id, shift_id, expect=KEPT_STATUSES, at=rs.now, status="replaced", by=rs.actor, note=reason)
    new = {
        **row,
        "id": f"s{number:05d}",
        "person_id": to,
        "status": "planned",
        "token": tokens.get(to) or secrets.token_urlsafe(24),
        "by": rs.actor,
        "note": reason,
        "updated_at": rs.now,
    }
    rs.tx.insert_shifts([new])
    rs.audit("shift.swapped", row["step_id"], reason, shift=shift_id, new_shift=new["id"], to=to, was=row["person_id"])
    step = rs.plan.find(row["step_id"])
    for person in (row["person_id"], to):
        tell(rs, step, None, person, changed=True)
    return new


def replan(rs: RunView, step_id: str, reason: str) -> bool:
    """The shifts task back to ready (done → ready): the runner plans again, keeping what it can."""
    task = next(iter(rs.tx.tasks(rs.run_id, steps=[step_id], states=["done"])), None)
    if task is None:
        return False
    transition(rs, task, "ready", reason=reason, expect=["done"], next_attempt_at=rs.now)
    rs.audit("shifts.replan", task["id"], reason)
    return True


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return _aware(moment).isoformat().replace("+00:00", "Z")
