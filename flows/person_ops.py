"""A person's story in a run, as the Engine's part: who they are (id, name, team), their answers
to its roll calls (changed ones too, late ones marked) and the items of their pipeline with
state, owner, due time and the asset allocated to them; finding people of a run's roster by a
part of their name or id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.diagnostics import did_you_mean

from . import rules
from .errors import Invalid, NotFound
from .grant_ledger import grant_json
from .runstate import plan_of
from .shift_ops import shift_json
from .store import Store, utcnow
from .views import iso, task_json

SEARCH_LIMIT = 50


def folded(text: str) -> str:
    """For matching: case and spaces ignored ("zhangping" finds "Zhang Ping"); Chinese names
    match by their characters ("张" finds "张萍"), no pinyin needed."""
    return "".join(str(text).casefold().split())


class PersonOps:
    def __init__(self, store: Store):
        self.store = store

    def person(self, run_id: str, person_id: str) -> dict[str, Any]:
        """`{person: {id, name, team}, answers: [{step, option, at, late, by, via, current}],
        items: [{task, step, state, owner, due, overdue, title, asset?}], grants: [ledger rows]}`."""
        now = utcnow()
        with self.store.read() as r:
            row = _head(r, run_id)
            plan = plan_of(row, r)
            person = plan.site.person(person_id)
            if person is None:
                hint = did_you_mean(person_id, [p["id"] for p in plan.site.staff])
                raise NotFound(
                    f"{person_id} is not on the roster of site {plan.site.id}" + (f"; {hint}" if hint else "")
                )
            roll_calls = {
                t["step_id"]: t for t in r.tasks(run_id, steps=[s.id for s in plan.steps if s.kind == "muster"])
            }
            answers = r.answers_of(run_id, person_id)
            tasks = r.tasks(run_id, item_key=person_id)
            shifts = r.shifts(run_id, person=person_id, statuses=None)
            grants = r.grants(run_id=run_id, person_id=person_id)
        return {
            "run": {"id": row["id"], "name": plan.name, "state": row["state"], "site": plan.site.id},
            "site": {"id": plan.site.id, "name": plan.site.name, "timezone": plan.site.timezone},
            "person": _who(person),
            "answers": [_answer(a, roll_calls.get(a["step_id"])) for a in answers],
            "items": [_item(task_json(t, now, plan)) for t in tasks],
            "shifts": [shift_json(s) for s in shifts if s["status"] != "replaced"],
            "grants": [grant_json(g, now) for g in grants],
        }

    def people(self, run_id: str, query: str) -> dict[str, Any]:
        """The run's roster members whose name or id contains `query` (case and spaces ignored)."""
        wanted = folded(query or "")
        if not wanted:
            raise Invalid("search for a part of a name or an id (q=…)")
        if len(wanted) > 100:
            raise Invalid("a search is at most 100 characters")
        with self.store.read() as r:
            plan = plan_of(_head(r, run_id), r)
        found = [p for p in plan.site.staff if wanted in folded(p["name"]) or wanted in folded(p["id"])]
        return {
            "query": query,
            "people": [_who(p) for p in found[:SEARCH_LIMIT]],
            "more": max(0, len(found) - SEARCH_LIMIT),
        }


def _head(r: Any, run_id: str) -> dict[str, Any]:
    row = r.run_head(run_id)
    if row is None:
        raise NotFound(rules.unknown_run(r, run_id))
    return dict(row)


def _who(person: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": person["id"], "name": person["name"], "team": person.get("team")}


def _answer(a: Mapping[str, Any], roll_call: Mapping[str, Any] | None) -> dict[str, Any]:
    due = roll_call["due_at"] if roll_call else None
    return {
        "step": a["step_id"],
        "option": a["option"],
        "at": iso(a["at"]),
        "late": bool(due is not None and a["at"] > due),
        "by": a["by"],
        "via": a["via"],
        "current": bool(a["current"]),
    }


def _item(t: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "task": t["id"],
        "step": t["step"],
        "title": t["title"],
        "state": t["state"],
        "owner": t["owner"],
        "due": t["due_at"],
        "overdue": t["overdue"],
        "reason": t["reason"],
    }
    if t.get("asset"):
        out["asset"] = t["asset"]
    return out
