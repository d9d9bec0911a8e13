"""Re-planning when supply changes (issue 19, item 3), each trigger on its own: someone answers
"cannot work" at the roll call after the plan was made, and someone says by their link that
they cannot take their shifts. Each time the runner's look reopens the plan, the next claim
solves it again for what has not started, and the people whose shifts changed are told — the
one who dropped out that they have none any more, those who took their shifts what they are."""

from __future__ import annotations

from flows import work
from tests.flows.test_shifts import check_rules, solve_pending

ROTA = """id: rota_roll_call
name: Plan the hotline from the roll call
steps:
  - id: roll_call
    kind: muster
    owner: team:leads
    audience: "${{ site.staff | selectattr('team', 'eq', 'ops') | list | batch(30) | first }}"
    question: Can you work this week?
    options: {home: "Yes, from home", unavailable: Cannot work}
    due: 30d
  - id: plan
    kind: shifts
    needs: [roll_call]
    owner: team:leads
    queue: hotline
    days: 2
    patterns: [{start: "08:00", length: 8h}, {start: "16:00", length: 8h}, {start: "00:00", length: 8h}]
    rest: 12h
    max_per_week: 5
    max_consecutive_nights: 3
    from: "${{ steps.roll_call.answers.home }}"
    time_limit: 3s
  - id: confirm
    kind: manual
    needs: [plan]
    owner: team:leads
"""


def shifts_by_person(shifts: list[dict]) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for s in shifts:
        out.setdefault(s["person"], set()).add((s["start"], s["end"]))
    return out


def told(store, run: str) -> list[dict]:
    with store.read() as r:
        return [m for m in r.outbox(run_id=run) if m["event"] == "shifts.assigned"]


def test_cannot_work_at_the_roll_call_and_cannot_by_link_each_replan_and_tell_who_changed(
    engine, operator, store, write_runbook
):
    run = engine.start(write_runbook(ROTA), "roster", operator)["id"]
    links = {x["person"]: x["url"].rsplit("/r/", 1)[1] for x in engine.muster_links(run, "roll_call", operator)}
    assert len(links) == 30
    for token in links.values():
        engine.answer_link(token, "home")
    solve_pending(store, run)
    first = engine.shifts(run)
    people = {s["person"] for s in first}
    check_rules(first, set(links))
    # 1. After the plan, someone answers "cannot work" at the roll call: no longer eligible.
    leaver = sorted(people)[0]
    before = len(told(store, run))
    engine.answer_link(links[leaver], "unavailable")
    assert work.claim(store, run, "test-runner").jobs == []  # the look at the clock reopens the plan
    assert next(t for t in engine.tasks(run) if t["step"] == "plan")["state"] == "ready"
    solve_pending(store, run)
    after = engine.shifts(run)
    assert leaver not in {s["person"] for s in after}
    check_rules(after, set(links) - {leaver})
    news = told(store, run)[before:]
    heard = {m["recipient"] for m in news}
    assert f"person:{leaver}" in heard, "the one who dropped out is told"
    leaver_text = next(m for m in news if m["recipient"] == f"person:{leaver}")["message"]["text"]
    assert "no shifts" in leaver_text or "没有" in leaver_text
    # Whether anyone takes the leaver's shifts depends on who has room under the rules in the
    # plan the time-limited solver found; whoever's shifts changed, in either way, is told.
    was, now = shifts_by_person(first), shifts_by_person(after)
    changed = {p for p in was.keys() | now.keys() if was.get(p) != now.get(p)}
    assert leaver in changed and {f"person:{p}" for p in changed} == heard, (
        "those whose shifts changed are told, no one else"
    )
    # 2. Someone says by their link that they cannot take their shifts: re-planned without them there.
    with store.read() as r:
        tokens = r.shift_tokens(run)
    decliner = sorted(p for p in {s["person"] for s in after} if p != leaver)[0]
    declined = {(s["start"], s["end"]) for s in engine.shifts(run, person=decliner)}
    before = len(told(store, run))
    engine.answer_shifts(tokens[decliner], "cannot", note="childcare")
    assert next(t for t in engine.tasks(run) if t["step"] == "plan")["state"] == "ready"
    solve_pending(store, run)
    again = engine.shifts(run)
    assert not declined & {(s["start"], s["end"]) for s in again if s["person"] == decliner}
    news = told(store, run)[before:]
    assert f"person:{decliner}" in {m["recipient"] for m in news}
    known = {s["id"] for s in after}
    taken = {s["person"] for s in again if (s["start"], s["end"]) in declined and s["id"] not in known}
    assert {f"person:{p}" for p in taken} <= {m["recipient"] for m in news}, "who took them over is told"
    actions = [a["action"] for a in engine.audit(run)["entries"]]
    assert actions.count("shifts.replan") == 2 and actions.count("shifts.planned") == 3
