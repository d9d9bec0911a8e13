"""Human timers of a waiting task (docs/language.md): reminders to its owner every `remind.every`,
at most `remind.max`; one escalation `escalate.after` it became actionable, to
`escalate.to`. Nothing here changes a task's state: a stalled approval is never approved by
a timer. Reminders wait out the site's quiet hours; escalations do not. The next timer is
kept in the store (`tasks.timer_at`), so it survives a runner's restart; a runner that was
down sends one reminder for the ones it missed, not a burst."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from runbooks.estimate import format_duration
from runbooks.plan import PlannedStep
from runbooks.sites import Site

from .kinds import kind_of
from .runview import RunView


def next_timer(
    rs: RunView,
    step: PlannedStep,
    task: Mapping[str, Any],
    *,
    reminders: int | None = None,
    escalated: bool | None = None,
) -> datetime | None:
    start = task["actionable_at"]
    if start is None:
        return None
    reminders = (task.get("reminders") or 0) if reminders is None else reminders
    escalated = task.get("escalated_at") is not None if escalated is None else escalated
    times = []
    if step.remind is not None and reminders < step.remind[1]:
        times.append(start + rs.scaled(step.remind[0]) * (reminders + 1))
    if step.escalate is not None and not escalated:
        times.append(start + rs.scaled(step.escalate[0]))
    return min(times) if times else None


def fire(rs: RunView, task: dict[str, Any]) -> None:
    """The timer of a waiting task is due: escalate and/or remind, then set the next one."""
    step = rs.plan.find(task["step_id"])
    if step is None:
        rs.tx.update_task(rs.run_id, task["id"], expect=["waiting"], timer_at=None)
        return
    start, now = task["actionable_at"], rs.now
    escalated = task["escalated_at"] is not None
    values: dict[str, Any] = {}
    if step.escalate is not None and not escalated and now >= start + rs.scaled(step.escalate[0]):
        target = task["owner"] if step.escalate[1] == "owner" else step.escalate[1]
        values["escalated_at"] = now
        escalated = True
        rs.event(
            "task.escalated",
            task["id"],
            to=target,
            owner=task["owner"],
            title=task["title"],
            after=format_duration(step.escalate[0]),
        )
        kind_of(step.kind).on_escalate(rs, step, task)  # a roll call's leads get their people to call
        rs.audit(
            "task.escalate",
            task["id"],
            f"not done {format_duration(step.escalate[0])} after it was assigned",
            actor="engine",
            to=target,
        )
    reminders = task["reminders"]
    held = None
    if step.remind is not None and reminders < step.remind[1]:
        every = rs.scaled(step.remind[0])
        due_count = min(step.remind[1], int((now - start) / every))  # reminders that should have gone by now
        if due_count > reminders:
            held = quiet_until(rs.plan.site, now)
            if held is None:
                reminders = due_count
                values["reminders"] = reminders
                kind_of(step.kind).on_remind(rs, step, task, reminders)  # a roll call asks who has not answered
    if held is None:
        values["timer_at"] = next_timer(rs, step, task, reminders=reminders, escalated=escalated)
    else:  # the reminder waits for the morning; an escalation due before then does not
        escalation = start + rs.scaled(step.escalate[0]) if step.escalate is not None and not escalated else None
        values["timer_at"] = min(t for t in (held, escalation) if t is not None)
    rs.tx.update_task(rs.run_id, task["id"], expect=["waiting"], **values)


def quiet_until(site: Site, now: datetime) -> datetime | None:
    """When the site's quiet hours end, if `now` is inside them (local time); else None."""
    if not site.quiet_hours:
        return None
    tz = zoneinfo.ZoneInfo(site.timezone)
    local = now.astimezone(tz)
    start, end = (time.fromisoformat(t) for t in site.quiet_hours)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tz).astimezone(now.tzinfo)
