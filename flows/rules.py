"""Rules: what a person's action must pass before it changes anything — the task exists and is
waiting, the actor owns it (or overrides with a reason), four eyes, a valid target — and how a
retry brings back what a failure skipped. Called inside the run's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runbooks.diagnostics import did_you_mean
from runbooks.sites import Site

from .actors import Actor, ownership
from .errors import Conflict, Forbidden, Invalid, NotFound
from .runstate import RunState
from .states import task_id_of, transition


def site_named(name: str, allow_path: bool = True) -> Site:
    """A site by id (or, where allowed, directory) → loaded; an unknown one is NotFound."""
    from runbooks.library import NotFound as LibraryNotFound
    from runbooks.library import find_site
    from runbooks.sites import load_site

    try:
        return load_site(find_site(name, allow_path=allow_path))
    except LibraryNotFound as e:
        raise NotFound(str(e)) from None


def require_manager(actor: Actor, what: str) -> None:
    if not actor.manages:
        raise Forbidden(f"only a manager can {what}")


def require_site(actor: Actor, site_id: str, what: str) -> None:
    """A manager tied to sites acts on those sites only (an untied manager is global)."""
    if not actor.acts_on(site_id):
        raise Forbidden(f"{actor.label} manages {', '.join(sorted(actor.sites))}, not {site_id}: cannot {what} there")


def require_intervention(actor: Actor, reason: str | None, what: str) -> None:
    """A manager's intervention (skip, retry, reassign, add, cancel) needs a reason."""
    if not actor.manages:
        raise Forbidden(f"only a manager can {what} a task or run")
    if not reason or not reason.strip():
        raise Invalid(f"to {what} needs a reason (--reason)")


def unknown_run(reader, run_id: str) -> str:
    ids = [r["id"] for r in reader.runs()]
    hint = did_you_mean(run_id, ids)
    return f'no run "{run_id}"' + (f"; {hint}" if hint else "")


def find_task(rs: RunState, task_id: str) -> dict[str, Any]:
    task = rs.tx.task(rs.run_id, task_id)
    if task is None:
        raise NotFound(unknown_task(rs.run_id, task_id, [t["id"] for t in rs.tx.tasks(rs.run_id)]))
    return task


def unknown_task(run_id: str, task_id: str, ids: Iterable[str]) -> str:
    """No such task: a did-you-mean only among the same item's tasks (`laptp:X0049` →
    `laptop:X0049`) or, for a one-task step, the other one-task steps — never another person's
    task of the same step (`laptop:X0050` must not suggest `laptop:X0049`)."""
    step, sep, item = task_id.partition(":")
    ids = list(ids)
    if sep:
        near = [i for i in ids if i.partition(":")[2] == item]
    else:
        near = [i for i in ids if ":" not in i]
    hint = did_you_mean(task_id, near)
    if not hint and sep and any(i.partition(":")[0] == step for i in ids):
        hint = f'step "{step}" has no item "{item}"'
    return f'run {run_id} has no task "{task_id}"' + (f"; {hint}" if hint else "")


def waiting_task(rs: RunState, task_id: str):
    step_id, _, key = task_id.partition(":")
    if key:  # the item and the same item of the steps that wait on it, in one read: the settle step reads them next
        waits = [task_id_of(d.id, key) for d in rs.plan.dependents(step_id) if step_id in d.item_needs]
        rs.tx.read_tasks(rs.run_id, [task_id, *waits])
    task = find_task(rs, task_id)
    if task["state"] != "waiting":
        raise Conflict(not_waiting(task))
    return task, rs.plan.find(task["step_id"])


def not_waiting(task: Mapping[str, Any]) -> str:
    detail = f" (by {task['ended_by']} at {task['ended_at']:%Y-%m-%d %H:%M:%S} UTC)" if task["ended_by"] else ""
    return f"task {task['id']} is {task['state']}{detail}, not waiting"


def check_owner(rs: RunState, actor: Actor, task: Mapping[str, Any], reason: str | None) -> bool:
    """True when this is an override (acting on a task one does not own, with a reason)."""
    verdict = ownership(actor, task["owner"], rs.run["site_id"])
    if verdict == "deny":
        raise Forbidden(f"task {task['id']} belongs to {task['owner']}; {actor.label} cannot act on it")
    if verdict == "override" and not (reason and reason.strip()):
        raise Invalid(f"task {task['id']} belongs to {task['owner']}: acting on it is an override and needs a reason")
    return verdict == "override"


def check_four_eyes(rs: RunState, step, task: Mapping[str, Any], actor: Actor) -> None:
    """Nobody approves an item whose upstream task they completed. Upstream means the work on
    this item: for an item, its own pipeline (per-item needs, transitively); for a single
    approval, the single tasks it needs (transitively). Shared work done once for everyone
    (a preparation step) does not bar its doer from approving each item."""
    item = task["item_key"] if step.fan_out else None
    frontier = list(step.item_needs if item is not None else step.needs)
    seen: set[str] = set()
    while frontier:
        need_id = frontier.pop()
        if need_id in seen:
            continue
        seen.add(need_id)
        need = rs.plan.step(need_id)
        if need.fan_out != (item is not None):
            continue
        row = rs.tx.task(rs.run_id, f"{need_id}:{item}" if item is not None else need_id)
        if row and row["outputs"] and row["outputs"].get("by") == actor.identity:
            raise Forbidden(
                f"four eyes: {actor.identity} completed {row['id']}, upstream of {task['id']}, "
                "so someone else must approve it"
            )
        frontier += need.item_needs if item is not None else need.needs


def revive_dependents(rs: RunState, task_id: str) -> None:
    """Tasks skipped because `task_id` failed go back to pending (transitively); so do those
    skipped because its whole step ended without success."""
    step_id = task_id.split(":", 1)[0]
    frontier = [task_id] + ([step_id] if step_id != task_id else [])
    while frontier:
        current = frontier.pop()
        for t in rs.tx.tasks(rs.run_id, states=["skipped"]):
            if t["reason"] and t["reason"].startswith(f"upstream {current} was"):
                transition(rs, t, "pending", expect=["skipped"], event=False)
                frontier.append(t["id"])


def check_target(site: Site, target: str | None) -> str:
    if not target:
        raise Invalid("say who takes it over: --to team:<id>, person:<id> or role:<role>")
    kind, _, name = target.partition(":")
    ok = (
        (kind == "team" and name in site.teams)
        or (kind == "person" and site.person(name) is not None)
        or (kind == "role" and name in ("team_lead", "manager"))
    )
    if not ok:
        raise Invalid(f'"{target}" is not a team, person or role of site {site.id}')
    return target
