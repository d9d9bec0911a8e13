"""Roll calls, as the Engine's part: answers given for people (a lead, the SMS
gateway) or by them (their link), the answer page's contents, the managers' links, a
manager's closing of a roll call, its headcount. Each answer is one transaction of its run
(flows/muster.py does the work inside it)."""

from __future__ import annotations

import threading
from typing import Any

from runbooks.plan import Plan, PlannedStep

from . import idempotency, muster, rules
from .actors import Actor, ownership
from .errors import Conflict, Forbidden, Invalid, NotFound
from .headcount import headcount
from .kinds import kind_of
from .notify import public_url
from .runstate import RunState, plan_of
from .session import change_run
from .store import Reader, Store

# (store, run, step) → (the run's last event, the roll call's version, the headcount)
_CACHE: dict[tuple[str, str, str | None], tuple[int, Any, dict[str, Any]]] = {}
_CACHE_LOCK = threading.Lock()


# Links kept once read, per store: a link row is never changed or removed, so a person's answer
# and their page look their token up in the store once.
_LINKS: dict[tuple[str, str], dict[str, Any]] = {}
_LINKS_KEPT = 50_000


class RollCallOps:
    def __init__(self, store: Store):
        self.store = store

    def _link(self, token: str, reader: Reader | None = None) -> dict[str, Any] | None:
        """A personal link by its token (None: nobody's), read once."""
        if not token:
            return None
        key = (self.store.url, token)
        link = _LINKS.get(key)
        if link is None:
            if reader is not None:
                link = reader.muster_link(token)
            else:
                with self.store.read() as r:
                    link = r.muster_link(token)
            if link is not None:
                if len(_LINKS) >= _LINKS_KEPT:
                    _LINKS.clear()
                _LINKS[key] = link
        return dict(link) if link is not None else None

    def answer(
        self,
        run_id: str,
        step_id: str,
        person_id: str,
        option: str,
        actor: Actor,
        *,
        via: str = "lead",
        note: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """An answer given for a person: by a lead of their team or a manager (`via` lead, with
        an optional note: "reached by phone"), or by the SMS gateway (`via` sms, the person
        matched by their number)."""
        if note is not None and len(note) > 500:
            raise Invalid("a note is at most 500 characters")

        def change(rs: RunState) -> Any:
            step = _roll_call(rs, step_id)
            if via == "lead":
                person = rs.plan.site.person(person_id)
                if person is None:
                    raise NotFound(f"no person {person_id!r} on the roster")
                team = f"team:{person['team']}"
                if ownership(actor, team, rs.run["site_id"]) == "deny" and actor.staff_id != person_id:
                    raise Forbidden(f"{actor.label} does not lead {person['team']}: they cannot answer for {person_id}")
            outputs = muster.answer(rs, step, person_id, option, via=via, by=actor.label, note=note or None)
            return lambda rs: {
                "run": run_id,
                "step": step_id,
                "person": person_id,
                "counts": outputs.get("counts"),
                "accounted": outputs.get("accounted"),
            }

        request = {"op": "answer", "run": run_id, "step": step_id, "person": person_id, "option": option, "note": note}
        idem = idempotency.key_for(actor.identity, key, request)
        result: dict[str, Any] = change_run(self.store, run_id, actor.label, change, idem=idem)
        return result

    def close_muster(
        self, run_id: str, step_id: str, actor: Actor, *, reason: str | None, key: str | None = None
    ) -> dict[str, Any]:
        """A manager closes a roll call to answers (with a reason): the people still missing are
        then told by their link that the center closed it, and whom to call."""
        rules.require_manager(actor, "close a roll call")
        if not reason or not reason.strip():
            raise Invalid("to close a roll call needs a reason (--reason)")
        why = reason.strip()

        def change(rs: RunState) -> Any:
            outputs = muster.close_to_answers(rs, _roll_call(rs, step_id), actor.label, why)
            return lambda rs: {
                "run": run_id,
                "step": step_id,
                "closed": outputs["closed"],
                "unaccounted": len(outputs.get("unreachable") or []),
            }

        request = {"op": "close-muster", "run": run_id, "step": step_id, "reason": reason}
        idem = idempotency.key_for(actor.identity, key, request)
        result: dict[str, Any] = change_run(self.store, run_id, actor.label, change, idem=idem)
        return result

    def headcount(self, run_id: str, step_id: str | None = None) -> dict[str, Any]:
        """On site / home / cannot work / no answer, by team, with the names of the missing
        (flows/headcount.py); `step_id` None: the run's first roll call. Kept until the next
        answer or a change of the roll call's task (its gate, a closing): the run page asks at
        each view, and check-offs elsewhere in the run do not make it count again."""
        with self.store.read() as r:
            seq = r.last_event_seq(run_id)
            with _CACHE_LOCK:
                hit = _CACHE.get((self.store.url, run_id, step_id))
            if hit is not None and hit[0] == seq:  # nothing happened in the run: one read
                return hit[2]
            plan, step, task = _opened_roll_call(r, run_id, step_id)
            version = (r.last_answer_pk(run_id, step.id), task["state"], muster.closed_by(task))
            data = hit[2] if hit is not None and hit[1] == version else _headcount_json(r, plan, step, task)
        with _CACHE_LOCK:
            if len(_CACHE) >= 64:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[(self.store.url, run_id, step_id)] = (seq, version, data)
        return data

    def compute_headcount(self, run_id: str, step_id: str | None = None) -> dict[str, Any]:
        """The headcount read from the store now (`headcount` keeps it until the next answer)."""
        with self.store.read() as r:
            plan, step, task = _opened_roll_call(r, run_id, step_id)
            return _headcount_json(r, plan, step, task)

    def answer_link(self, token: str, option: str) -> dict[str, Any]:
        """A staff member's own answer through their personal link (no account: the link is
        theirs, valid while the run runs)."""
        link = self._link(token)
        if link is None:
            raise NotFound("this answer link is not known (mistyped, or from another message)")
        actor = Actor(f"link:{link['person_id']}", "staff", staff_id=link["person_id"])
        return self.answer(link["run_id"], link["step_id"], link["person_id"], option, actor, via="link")

    def answer_sms(self, sender: str, text: str, actor: Actor) -> dict[str, Any]:
        """An SMS reply: the sender's number → the roster member; the answer goes to the newest
        open roll call that asks them."""
        number = _digits(sender)
        if len(number) < 6:
            raise Invalid(f"{sender!r} is not a phone number")
        with self.store.read() as r:
            candidates = []
            for run in r.runs(states=["running"]):
                plan = plan_of(run, r)
                musters = [s.id for s in plan.steps if kind_of(s.kind).answered]
                people = [p["id"] for p in plan.site.staff if p.get("phone") and _digits(p["phone"]) == number]
                if not musters or not people:
                    continue  # only the run's roll calls are read, not its other (done) tasks
                for task in r.tasks(run["id"], steps=musters, states=["waiting", "done"]):
                    if not muster.takes_answers(task):
                        continue
                    for person_id in people:
                        if r.muster_link_for(run["id"], task["step_id"], person_id) is not None:
                            candidates.append((task["actionable_at"], run["id"], task["step_id"], person_id))
        if not candidates:
            raise NotFound("no open roll call asks this number")
        _, run_id, step_id, person_id = max(candidates)
        return self.answer(run_id, step_id, person_id, text, actor, via="sms")

    def answer_page(self, token: str) -> dict[str, Any] | None:
        """What a staff member's answer page shows (reading only: a GET never answers)."""
        with self.store.read() as r:
            link = self._link(token, r)
            run = r.run_head(link["run_id"]) if link else None  # the plan is cached: no 10,000-row snapshot read
            if link is None or run is None:
                return None
            task = r.task(run["id"], link["step_id"])
            current = r.current_answer(run["id"], link["step_id"], link["person_id"])
            plan = plan_of(run, r)
        step = plan.find(link["step_id"])
        person = plan.site.person(link["person_id"]) or {}
        options = list(step.params["options"].items()) if step else []
        from runbooks.expressions import ExpressionError, render_value
        from runbooks.texts import map_text

        def rendered(text: str) -> str:
            try:
                return str(render_value(text, plan.context({"id": run["id"]})))
            except ExpressionError:
                return text

        question = map_text(step.params["question"], rendered) if step else ""  # each language's
        return {
            "lang": person.get("lang") or plan.site.lang,
            "site": plan.site.name,
            "name": person.get("name", ""),
            "question": question,
            "options": options,
            "current": current,
            "current_label": dict(options).get(current, ""),
            "open": run["state"] == "running" and muster.takes_answers(task),
            "closed": muster.closed_by(task),
            "call": [  # whom to call once it is closed: the person's team leads (names only)
                (plan.site.person(lead) or {}).get("name", lead)
                for lead in (plan.site.teams.get(person.get("team", "")) or {}).get("leads") or []
            ],
        }

    def muster_links(self, run_id: str, step_id: str, actor: Actor) -> list[dict[str, Any]]:
        """Every person's answer link, for call lists (a manager's)."""
        rules.require_manager(actor, "see the answer links")
        with self.store.read() as r:
            if r.run_head(run_id) is None:
                raise NotFound(rules.unknown_run(r, run_id))
            links = r.muster_links(run_id, step_id)
            base = public_url(r)
        return [{"person": link["person_id"], "url": f"{base}/r/{link['token']}"} for link in links]


def _opened_roll_call(r: Reader, run_id: str, step_id: str | None) -> tuple[Plan, PlannedStep, dict[str, Any]]:
    """A run's plan, its roll call (`step_id` None: its first) and its task, once it opened
    (with only its `closed` output)."""
    run = r.run_head(run_id)
    if run is None:
        raise NotFound(rules.unknown_run(r, run_id))
    plan = plan_of(run, r)
    musters = [s for s in plan.steps if kind_of(s.kind).answered and step_id in (None, s.id)]
    if not musters:
        raise NotFound(f"run {run_id} has no roll call" + (f" {step_id!r}" if step_id else ""))
    task = r.task_outline(run_id, musters[0].id, ("closed",))  # not its answer groups: read from the answers
    if task is None or task["state"] not in ("waiting", "done"):
        state = task["state"] if task else "not created"
        raise Conflict(f"the roll call {musters[0].id} is {state}: no headcount yet")
    return plan, musters[0], task


def _headcount_json(r: Reader, plan: Plan, step: PlannedStep, task: dict[str, Any]) -> dict[str, Any]:
    run_id = task["run_id"]
    counts = headcount(r, run_id, step.id, step.params["options"], plan.site, task["due_at"])
    labels = dict(step.params["options"])  # a bilingual label stays a Texts: each reader sees theirs
    closed = muster.closed_by(task)
    return {"run": run_id, "step": step.id, "state": task["state"], "closed": closed, "labels": labels, **counts}


def _roll_call(rs: RunState, step_id: str) -> PlannedStep:
    step = rs.plan.find(step_id)
    if step is None or not kind_of(step.kind).answered:
        raise NotFound(f"run {rs.run_id} has no roll call {step_id!r}")
    return step


def _digits(number: str) -> str:
    """A phone number compared by its digits (spaces, dashes and a leading + do not count)."""
    return "".join(ch for ch in str(number) if ch in "0123456789")  # isdigit() takes "²" too
