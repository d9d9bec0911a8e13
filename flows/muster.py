"""Roll calls (`muster` steps, docs/language.md): when the step becomes actionable every person of
its audience gets a personal link (`/r/{token}`) in a `muster.request`; answers (by link, SMS
or a lead on someone's behalf) are recorded with their history and change the task's outputs
at once (`answers.<option>` rows, `counts`, `accounted`, `unreachable`); a step whose
`for_each` is an answer group gets that person's item the moment they answer, and loses it
(if not started) when they change their mind.

Due closes the gate, not the door: the roll call ends (done, releasing what waits on it) when
everyone answered, or once its due time passed with the quorum reached; it keeps taking
answers until the run ends or a manager closes it. A late answer (after due) moves the
counts and the objectives' values and starts or stops that person's items; those items hold
back nothing that already resolved (they are `late`). Teams with people missing keep a call
task for their leads (flows/call_tasks.py). Called inside the run's transaction (a RunState)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.expressions import ExpressionError, render_value
from runbooks.plan import PlannedStep
from runbooks.texts import all_texts, map_text

from . import call_tasks, grant_ledger, notify
from .errors import Conflict, Invalid, NotFound
from .headcount import unanswered_by_team
from .runview import RunView
from .states import create, task_id_of, transition
from .store import Reader

_GROUP = re.compile(r"answers\.([a-z][a-z0-9_]*)")


def audience(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The people asked: roster rows, from ids or rows (an expression such as site.staff)."""
    value = step.params["audience"]
    if isinstance(value, str):
        try:
            value = render_value(value, rs.context(step, task))
        except ExpressionError as e:
            raise Invalid(f"audience of {step.id}: {e}") from None
    people = rs.plan.site.people
    rows = []
    for entry in value or []:
        pid = entry.get("id") if isinstance(entry, Mapping) else str(entry)
        if pid in people:
            rows.append(dict(people[pid]))
    return rows


def open_roll_call(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> None:
    people = audience(rs, step, task)
    links = [
        {
            "token": secrets.token_urlsafe(24),
            "run_id": rs.run_id,
            "step_id": step.id,
            "person_id": p["id"],
            "created_at": rs.now,
        }
        for p in people
    ]
    rs.tx.insert_muster_links(links)
    _send_links(rs, step, task, links)
    rs.tx.update_task(
        rs.run_id,
        task["id"],
        expect=["waiting"],
        outputs={
            "counts": {key: 0 for key in step.params["options"]},
            "answered": 0,
            "asked": len(people),
            "accounted": 0.0 if people else 1.0,
        },
    )


def _text(rs: RunView, step: PlannedStep, task: Mapping[str, Any], value: str) -> str:
    """The question rendered in the task's context, in each language it was written in."""

    def one(text: str) -> str:
        try:
            return str(render_value(text, rs.context(step, task)))
        except ExpressionError:
            return text

    found: str = map_text(value, one)  # a Texts for a bilingual question
    return found


def option_of(step: PlannedStep, text: str) -> str:
    """An answer as typed → the option key: the key, its number (1, 2, 3) or its label in any
    language it was written in (an SMS reply "居家" counts as "home")."""
    options = list(step.params["options"].items())
    raw = (text or "").strip()
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= len(options):  # "²" is a digit, not a number
        return options[int(raw) - 1][0]
    for key, label in options:
        if raw.lower() in (key.lower(), *(text.strip().lower() for text in all_texts(label))):
            return key
    choices = ", ".join(f"{i}/{k}" for i, (k, _) in enumerate(options, 1))
    raise Invalid(f'"{raw[:40]}" is not an answer to this roll call (answers: {choices})')


def summary(step: PlannedStep, answers: Sequence[Mapping[str, Any]], people: list[dict[str, Any]]) -> dict[str, Any]:
    """The outputs: answer groups (roster rows), counts, accounted ratio, who is unreachable."""
    by_id = {p["id"]: p for p in people}
    current = {a["person_id"]: a["option"] for a in answers if a["person_id"] in by_id}
    groups: dict[str, list[dict[str, Any]]] = {key: [] for key in step.params["options"]}
    for pid, option in current.items():
        groups.setdefault(option, []).append(by_id[pid])
    return {
        "answers": groups,
        "counts": {k: len(v) for k, v in groups.items()},
        "accounted": round(len(current) / len(people), 4) if people else 1.0,
        "unreachable": [p["id"] for p in people if p["id"] not in current],
        "asked": len(people),
        "answered": len(current),
    }


def closed_by(task: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Who closed the roll call to answers (a manager), when and why; None while it takes them."""
    closed = ((task or {}).get("outputs") or {}).get("closed")
    return dict(closed) if isinstance(closed, Mapping) else None


def takes_answers(task: Mapping[str, Any] | None) -> bool:
    return task is not None and task["state"] in ("waiting", "done") and closed_by(task) is None


def answer(
    rs: RunView, step: PlannedStep, person_id: str, option: str, *, via: str, by: str, note: str | None = None
) -> dict[str, Any]:
    """Record a person's answer (or its change) and everything that follows from it. While the
    gate is open the task keeps counts (each answer costs the same with 110 or 10,000 people
    asked; the groups are read from the answers when something needs them); after it, a late
    answer rewrites the kept outputs."""
    task = rs.tx.task(rs.run_id, step.id)
    if not takes_answers(task):
        closed = closed_by(task)
        if closed:
            raise Conflict(f"the roll call {step.id} was closed by {closed['by']}: {closed['reason']}")
        raise Conflict(f"the roll call {step.id} is {task['state'] if task else 'not open'}; it takes no answers")
    assert task is not None
    if rs.tx.muster_link_for(rs.run_id, step.id, person_id) is None:
        raise NotFound(f"{person_id} is not asked in roll call {step.id}")
    option = option_of(step, option)
    previous = rs.tx.current_answer(rs.run_id, step.id, person_id)
    if previous == option:
        return task["outputs"] or {}
    late = task["due_at"] is not None and rs.now > task["due_at"]
    rs.tx.record_muster_answer(
        {
            "run_id": rs.run_id,
            "step_id": step.id,
            "person_id": person_id,
            "option": option,
            "via": via,
            "by": by,
            "at": rs.now,
        },
        first=previous is None,
    )
    detail: dict[str, Any] = {"person": person_id, "option": option, "was": previous, "via": via}
    if note:
        detail["note"] = note
    if late:
        detail["late"] = True
    rs.audit("muster.answer", task["id"], actor=by, **detail)
    rs.event("muster.answer", task["id"])  # for live dashboards (SSE); no notification names it
    person = dict(rs.plan.site.people.get(person_id) or {"id": person_id})
    _stream(rs, step, person, previous, option, late=task["state"] == "done")
    if previous is None:
        call_tasks.answered(rs, step, person)
    if task["state"] == "done":  # a late answer (or a change after the gate): the kept outputs follow
        outputs = {**task["outputs"], **full_outputs(rs.tx, rs.run_id, step, rs.plan.site)}
        rs.tx.update_task(rs.run_id, task["id"], expect=["done"], outputs=outputs)
        rs.changed.add((step.id, None))
        return outputs
    outputs = dict(task["outputs"] or {})
    counts = dict(outputs.get("counts") or {})
    if previous is not None:
        counts[previous] = max(0, counts.get(previous, 0) - 1)
    counts[option] = counts.get(option, 0) + 1
    answered = sum(counts.values())
    asked = outputs.get("asked") or 1
    outputs.update(counts=counts, answered=answered, accounted=round(answered / asked, 4))
    rs.tx.update_task(rs.run_id, task["id"], expect=["waiting"], outputs=outputs)
    rs.changed.add((step.id, None))
    task = {**task, "outputs": outputs}
    due_passed = task["due_at"] is not None and rs.now >= task["due_at"]
    if answered >= asked or (due_passed and _quorum(step, outputs)):
        close(rs, step, task)
    return outputs


def full_outputs(reader: Reader, run_id: str, step: PlannedStep, site: Any) -> dict[str, Any]:
    """The roll call's outputs with its groups: `answers.<option>` (roster rows) and
    `unreachable`, read from the answers."""
    people = site.people
    asked = [people[link["person_id"]] for link in reader.muster_links(run_id, step.id) if link["person_id"] in people]
    return summary(step, reader.muster_answers(run_id, step.id), asked)


def _quorum(step: PlannedStep, outputs: Mapping[str, Any]) -> bool:
    return outputs["accounted"] >= float(step.params.get("quorum") or 1.0)


def close(rs: RunView, step: PlannedStep, task: Mapping[str, Any], *, calls: bool = True) -> None:
    """The gate closes: done, what waits on it is released, the full outputs are kept in the
    task from now on (late answers rewrite them); teams with people missing get call tasks
    (not when a manager closes it to answers: `calls` False)."""
    outputs = full_outputs(rs.tx, rs.run_id, step, rs.plan.site)
    transition(rs, task, "done", by=rs.actor, outputs=outputs, expect=["waiting"])
    for s in rs.plan.steps:
        if s.streams_from == step.id:
            rs.tx.update_run_step(rs.run_id, s.id, closed=True)
            rs.changed.add((s.id, None))
    rs.audit("muster.close", task["id"], actor="engine", accounted=outputs["accounted"])
    if calls:
        call_tasks.open_for_missing(rs, step, task)


def close_to_answers(rs: RunView, step: PlannedStep, by: str, reason: str) -> dict[str, Any]:
    """A manager closes the roll call: no more answers; the gate closes too if it was open, and
    the call tasks end (cancelled, with the reason)."""
    task = rs.tx.task(rs.run_id, step.id)
    if task is None or task["state"] not in ("waiting", "done"):
        raise Conflict(f"the roll call {step.id} is {task['state'] if task else 'not open'}: nothing to close")
    closed = closed_by(task)
    if closed:
        raise Conflict(f"the roll call {step.id} was already closed by {closed['by']} at {closed['at']}")
    if task["state"] == "waiting":
        close(rs, step, task, calls=False)
        task = rs.tx.task(rs.run_id, step.id)
        assert task is not None
    mark = {"by": by, "at": rs.now.isoformat(), "reason": reason}
    outputs = {**(task["outputs"] or {}), "closed": mark}
    rs.tx.update_task(rs.run_id, task["id"], expect=["done"], outputs=outputs)
    rs.audit("muster.closed", task["id"], reason, actor=by, unaccounted=len(outputs.get("unreachable") or []))
    rs.event("muster.closed", task["id"], by=by, reason=reason)
    call_tasks.cancel_all(rs, step, f"the roll call was closed by {by}: {reason}")
    rs.changed.add((step.id, None))
    return outputs


def on_due(rs: RunView, task: Mapping[str, Any]) -> bool:
    """Its due time passed: close it if the quorum is reached (True); else it stays open."""
    step = rs.plan.find(task["step_id"])
    if step is None or not _quorum(step, task["outputs"] or {"accounted": 0}):
        return False
    close(rs, step, task)
    return True


def _stream(
    rs: RunView, muster: PlannedStep, person: dict[str, Any], previous: str | None, option: str, *, late: bool
) -> None:
    """Items of steps fed by an answer group: added when a person joins it, cancelled (if not
    started) when they leave it; the settle step evaluates the new ones. An item added after
    the gate closed is `late`: a step that needs all the items does not wait for it. Leaving a
    group ends that person's pipeline: the access it granted them is revoked (and verified)."""
    left: list[str] = []
    for s in rs.plan.steps:
        if s.streams_from != muster.id or not isinstance(s.for_each, str):
            continue
        found = _GROUP.search(s.for_each)
        group = found.group(1) if found else None
        if group not in (previous, option):
            continue
        key = rs.item_key_of(s, person)
        existing = rs.tx.task(rs.run_id, task_id_of(s.id, key))
        if option == group:
            if existing is None:
                create(rs, [{**rs.new_task(s, key, person), "late": late}])
            elif existing["state"] == "cancelled":
                transition(rs, existing, "pending", event=False)
                rs.created.append({**existing, "state": "pending"})
            rs.changed.add((s.id, key))
        elif existing is not None and existing["state"] in ("pending", "waiting", "ready"):
            transition(
                rs, existing, "cancelled", by=rs.actor, reason=f"{person['id']} changed their answer to {option}"
            )
        if option != group:
            left.append(s.id)
    if left:
        granted = rs.tx.grants(run_id=rs.run_id, person_id=str(person["id"]), states=["active"])
        why = f"{person['id']} changed their answer to {option}"
        grant_ledger.revoke(rs, [g for g in granted if g["step_id"] in left], why)


def remind(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> int:
    """A roll call's reminder goes to those who have not answered, with their own link again."""
    answered = {a["person_id"] for a in rs.tx.muster_answers(rs.run_id, step.id)}
    links = [link for link in rs.tx.muster_links(rs.run_id, step.id) if link["person_id"] not in answered]
    return _send_links(rs, step, task, links, reminder=True)


def _send_links(
    rs: RunView, step: PlannedStep, task: Mapping[str, Any], links: Sequence[Mapping[str, Any]], reminder: bool = False
) -> int:
    """The question to each person of `links` with their own `/r/` link (personal channels only)."""
    base = notify.public_url(rs.tx)
    data = {
        "question": _text(rs, step, task, step.params["question"]),
        "options": dict(step.params["options"]),
        "due": notify.local_time(rs.plan.site, task.get("due_at")),
        **({"reminder": True} if reminder else {}),
    }
    context = notify.run_context(rs, step, task)
    return sum(
        notify.send_link(
            rs, step, task, "muster.request", link["person_id"], f"{base}/r/{link['token']}", data, context
        )
        for link in links
    )


def escalate(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> int:
    """The roll call's escalation: each team's leads get a call task and the list of their
    people to call, with numbers (personal channels only)."""
    call_tasks.open_for_missing(rs, step, task)
    context = notify.run_context(rs, step, task)
    sent = 0
    for team, people in sorted(unanswered_by_team(rs.tx, rs.run_id, step.id, rs.plan.site).items()):
        sent += notify.tell(
            rs,
            "muster.calls",
            [f"team:{team}"],
            task=task,
            context=context,
            data={"team": team, "calls": people},
            link=f"{notify.public_url(rs.tx)}/runs/{rs.run_id}/muster/{step.id}/calls",
            personal=True,
            send_in_drill=step.drill == "send",
        )
    return sent
