"""Welfare check-ins inside a run's transaction (a `checkin` step's item is one person): every
`every` a round opens with a personal link sent to that person (personal channels only, in
their language); at half its window an unanswered round is reminded (the link again), at its
end it is missed and the step's owner (the living-support team's leads) is told. An answer that
matches the step's `flag` becomes a task for the owner with the person and the answer. After
the last of `rounds` the item is done (rounds 0: it runs until the run ends)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runbooks.expressions import ExpressionError, render_value
from runbooks.models import parse_duration
from runbooks.plan import PlannedStep

from . import notify
from .errors import Conflict, Invalid
from .runview import RunView
from .states import create, transition


def _window(step: PlannedStep) -> int:
    return parse_duration(step.params.get("window") or step.params["every"])


def _person(rs: RunView, task: Mapping[str, Any]) -> dict[str, Any]:
    item = task.get("item")
    if isinstance(item, Mapping):
        return dict(item)
    return dict(rs.plan.site.person(str(task["item_key"])) or {"id": task["item_key"], "name": task["item_key"]})


def lang_of(rs: RunView, person: Mapping[str, Any]) -> str:
    return str(person.get("lang") or rs.plan.site.lang or "en")


def _render(rs: RunView, step: PlannedStep, task: Mapping[str, Any], text: str) -> str:
    try:
        return str(render_value(text, rs.context(step, task)))
    except ExpressionError:
        return text


def questions(rs: RunView, step: PlannedStep, task: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    """The questions in the person's language: `[{id, text, options: [[key, label]]}]`."""
    out = []
    for qid, q in step.params["questions"].items():
        text = q["text"]
        if isinstance(text, Mapping):
            text = text.get(lang) or text.get("en") or next(iter(text.values()))
        out.append(
            {
                "id": qid,
                "text": _render(rs, step, task, text),
                "options": [list(o) for o in q["options"].items()],
            }
        )
    return out


def tick(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> None:
    """The runner's look at one person's check-ins: open, remind, miss, finish; the next look
    is kept in the task's `next_attempt_at`."""
    rounds = rs.tx.checkin_rounds(rs.run_id, task["id"])
    current = rounds[-1] if rounds else None
    person = _person(rs, task)
    times: list[datetime] = []
    if current is not None and current["answered_at"] is None and current["missed_at"] is None:
        half = current["opened_at"] + (current["closes_at"] - current["opened_at"]) / 2
        if rs.now >= current["closes_at"]:
            rs.tx.update_checkin(current["token"], missed_at=rs.now)
            rs.audit("checkin.missed", task["id"], actor="engine", round=current["round"], person=person["id"])
            _tell(rs, step, task, "checkin.missed", [step.owner] if step.owner else [], person, current)
        elif rs.now >= half and current["reminded_at"] is None:
            rs.tx.update_checkin(current["token"], reminded_at=rs.now)
            _send_link(rs, step, task, person, current, reminder=True)
            times.append(current["closes_at"])
        else:
            times.append(half if current["reminded_at"] is None else current["closes_at"])
    limit = int(step.params.get("rounds") or 0)
    every = rs.scaled(parse_duration(step.params["every"]))
    following = current["opened_at"] + every if current is not None else rs.now
    if limit and len(rounds) >= limit:
        last = rs.tx.checkin(rounds[-1]["token"]) or rounds[-1]
        if last["answered_at"] is not None or last["missed_at"] is not None:
            transition(rs, task, "done", by="engine", outputs=outputs_of(rs, task), expect=["ready"])
            return
    elif rs.now >= following:
        _open(rs, step, task, person, len(rounds) + 1)
        times.append(rs.now + rs.scaled(_window(step)) / 2)
        times.append(rs.now + every)
    else:
        times.append(following)
    rs.tx.update_task(rs.run_id, task["id"], expect=["ready"], next_attempt_at=min(times) if times else None)


def _open(rs: RunView, step: PlannedStep, task: Mapping[str, Any], person: Mapping[str, Any], n: int) -> None:
    row = {
        "token": secrets.token_urlsafe(24),
        "run_id": rs.run_id,
        "step_id": step.id,
        "task_id": task["id"],
        "person_id": str(person["id"]),
        "round": n,
        "opened_at": rs.now,
        "closes_at": rs.now + rs.scaled(_window(step)),
    }
    rs.tx.insert_checkin(row)
    rs.audit("checkin.open", task["id"], actor="engine", round=n, person=person["id"])
    _send_link(rs, step, task, person, row, reminder=False)


def _send_link(
    rs: RunView,
    step: PlannedStep,
    task: Mapping[str, Any],
    person: Mapping[str, Any],
    row: Mapping[str, Any],
    *,
    reminder: bool,
) -> None:
    data = {
        "questions": questions(rs, step, task, lang_of(rs, person)),
        "due": notify.local_time(rs.plan.site, row["closes_at"]),
        "round": row["round"],
        "reminder": reminder,
    }
    link = f"{notify.public_url(rs.tx)}/c/{row['token']}"
    notify.send_link(rs, step, task, "checkin.request", str(person["id"]), link, data)


def _tell(
    rs: RunView,
    step: PlannedStep,
    task: Mapping[str, Any],
    event: str,
    targets: list[str],
    person: Mapping[str, Any],
    row: Mapping[str, Any],
    **data: Any,
) -> None:
    notify.tell(
        rs,
        event,
        targets,
        step=step,
        task=task,
        data={"person": person.get("name") or person["id"], "person_id": person["id"], "round": row["round"], **data},
    )


def answer(rs: RunView, step: PlannedStep, row: Mapping[str, Any], given: Mapping[str, str]) -> list[str]:
    """A person's answers to one round (a change while it is open replaces them); the flag tasks
    it opened. Every question must be answered with one of its options."""
    if row["missed_at"] is not None or rs.now >= row["closes_at"]:
        raise Conflict("this check-in is closed: the next one comes with a new link")
    specs = step.params["questions"]
    bad = [qid for qid, q in specs.items() if given.get(qid) not in q["options"]]
    if bad:
        raise Invalid("answer every question with one of its options: " + ", ".join(bad))
    answers = {qid: str(given[qid]) for qid in specs}
    task = rs.tx.task(rs.run_id, row["task_id"])
    assert task is not None
    first = row["answered_at"] is None
    rs.tx.update_checkin(row["token"], answers=answers, answered_at=rs.now)
    rs.audit("checkin.answer", row["task_id"], actor=f"link:{row['person_id']}", round=row["round"], **answers)
    rs.tx.update_task(rs.run_id, row["task_id"], outputs=outputs_of(rs, task))
    rs.changed.add((task["step_id"], task["item_key"]))
    opened = []
    for qid, wanted in (step.params.get("flag") or {}).items():
        hits = [wanted] if isinstance(wanted, str) else list(wanted)
        if answers.get(qid) in hits:
            opened += _flag_task(rs, step, task, row, qid, answers[qid], first)
    return opened


def _flag_task(
    rs: RunView,
    step: PlannedStep,
    task: Mapping[str, Any],
    row: Mapping[str, Any],
    qid: str,
    value: str,
    first: bool,
) -> list[str]:
    tid = f"adhoc:checkin.{step.id}.{row['person_id']}.{row['round']}.{qid}"
    if rs.tx.task(rs.run_id, tid) is not None:
        return []
    person = _person(rs, task)
    label = step.params["questions"][qid]["options"][value]
    title = f"Living support: {person.get('name') or person['id']} answered {qid}: {label} (check-in {row['round']})"
    owner = step.owner or "role:manager"
    create(
        rs,
        [
            {
                "run_id": rs.run_id,
                "id": tid,
                "step_id": "adhoc",
                "item_key": tid.split(":", 1)[1],
                "item": {"person": person["id"], "question": qid, "answer": value, "round": row["round"]},
                "title": title,
                "kind": "manual",
                "state": "waiting",
                "owner": owner,
                "adhoc": True,
                "created_at": rs.now,
                "actionable_at": rs.now,
                "attempt": 0,
                "outputs": {"person": person["id"], "question": qid, "answer": value},
            }
        ],
    )
    rs.audit("checkin.flag", tid, actor="engine", person=person["id"], question=qid, answer=value)
    rs.event("task.assigned", tid, owner=owner, title=title)
    return [tid]


def outputs_of(rs: RunView, task: Mapping[str, Any]) -> dict[str, Any]:
    rounds = rs.tx.checkin_rounds(rs.run_id, task["id"])
    flags = [
        t for t in rs.tx.tasks(rs.run_id, steps=["adhoc"]) if t["id"].startswith(f"adhoc:checkin.{task['step_id']}.")
    ]
    person = str(task["item_key"])
    return {
        "rounds": len(rounds),
        "answered": sum(1 for r in rounds if r["answered_at"] is not None),
        "missed": sum(1 for r in rounds if r["missed_at"] is not None),
        "flags": sum(1 for t in flags if (t["item"] or {}).get("person") == person),
        "last": next((r["answers"] for r in reversed(rounds) if r["answers"]), None),
    }


def page(rs: RunView, step: PlannedStep, row: Mapping[str, Any]) -> dict[str, Any]:
    """What the person's check-in page shows."""
    task = rs.tx.task(rs.run_id, row["task_id"])
    assert task is not None
    person = _person(rs, task)
    lang = lang_of(rs, person)
    return {
        "site": rs.plan.site.name,
        "name": person.get("name") or person["id"],
        "lang": lang,
        "round": row["round"],
        "questions": questions(rs, step, task, lang),
        "current": row["answers"] or {},
        "open": row["missed_at"] is None and rs.now < row["closes_at"] and rs.run["state"] == "running",
        "due": notify.local_time(rs.plan.site, row["closes_at"]),
    }
