"""Pools (docs/language.md `allocate`): one available item of a site pool per task, taken in the
task's transaction (never the same item to two people, also with several runners on
PostgreSQL); with `handover: true` the owner confirms the hand-over with the item's key. A
shortage leaves only the items that cannot be served blocked (`ready`, with the reason) and
tells their owner and the managers once; stock moved in from another site (`runbook pools
restock`) serves them. An item not yet handed over goes back to the pool when its task is
cancelled or skipped (a changed roll-call answer, a cancelled run)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.plan import PlannedStep
from runbooks.sites import Site

from . import grant_ledger, notify
from .errors import Invalid
from .runview import RunView
from .states import transition
from .store import Reader

SHORTAGE = "waiting for stock"
SANDBOX = "~"  # a drill's stock of a site is kept under "<site>~<drill lockdown or run id>"


def sandbox_key(run: Mapping[str, Any]) -> str | None:
    """The sandbox a drill run works on: its drill lockdown's (shared by the lockdown's runs and
    its stand-down's), or its own for a drill started alone; None for a real run."""
    if not run["drill"]:
        return None
    return str(run["lockdown_id"] or run["id"])


def stock_id(site_id: str, sandbox: str | None) -> str:
    """Where a site's stock is kept: the real one, or its copy in a drill's sandbox."""
    return site_id if sandbox is None else f"{site_id}{SANDBOX}{sandbox}"


def stock_of(run: Mapping[str, Any], site_id: str) -> str:
    return stock_id(site_id, sandbox_key(run))


def seed(tx: Any, site: Site, pool_id: str, stock: str | None = None) -> None:
    """The pool's stock in the store, once: the CSV's; in a sandbox, a copy of the real stock as
    it is now (the CSV's if no run drew from it yet)."""
    pool = site.pools.get(pool_id)
    if pool is None:
        return
    stock = stock or site.id
    if stock != site.id:
        real = tx.pool_items(site.id, pool_id)
        if real:
            tx.seed_pool(
                stock, pool_id, [{"item_key": i["item_key"], "data": i["data"], "status": i["status"]} for i in real]
            )
            return
    tx.seed_pool(
        stock,
        pool_id,
        [
            {
                "item_key": row[pool.key],
                "data": dict(row),
                "status": "available"
                if row.get("status") == "available"
                else (row.get("status") or "unavailable")[:16],
            }
            for row in pool.rows
        ],
    )


def allocate(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> bool:
    """Take an item for a ready allocate task: done (or waiting for the hand-over), or left
    ready and blocked when the pool is empty. True when an item was taken."""
    pool_id = step.params["pool"]
    site = rs.plan.site
    stock = stock_of(rs.run, site.id)
    seed(rs.tx, site, pool_id, stock)
    item = rs.tx.take_pool_item(stock, pool_id, rs.run_id, task["id"], rs.now)
    if item is None:
        rs.tx.update_task(
            rs.run_id, task["id"], expect=["ready"], reason=f"{SHORTAGE}: pool {pool_id} is empty", next_attempt_at=None
        )
        _shortage(rs, step, task, pool_id)
        return False
    outputs = {**item["data"], "by": "engine"}
    rs.audit("pool.allocate", task["id"], actor="engine", pool=pool_id, item=item["item_key"])
    if step.params.get("handover"):
        transition(rs, task, "waiting", outputs=outputs, expect=["ready"])
        rs.event("task.assigned", task["id"], owner=task["owner"], title=task["title"])
    else:
        transition(rs, task, "done", by="engine", outputs=outputs, expect=["ready"])
    return True


def _shortage(rs: RunView, step: PlannedStep, task: Mapping[str, Any], pool_id: str) -> None:
    blocked = [
        t for t in rs.tx.tasks(rs.run_id, steps=[step.id], states=["ready"]) if (t["reason"] or "").startswith(SHORTAGE)
    ]
    if len(blocked) != 1:
        return  # told once, at the first item the pool could not serve
    served = rs.tx.count_tasks(rs.run_id, steps=[step.id], states=["waiting", "done"])
    need = served + len(blocked)
    rs.audit("pool.shortage", step.id, actor="engine", pool=pool_id, served=served)
    notify.tell(
        rs,
        "pool.shortage",
        [t for t in (task["owner"], "role:manager") if t],
        step=step,
        task=task,
        data={"pool": pool_id, "need": need, "available": served, "step": step.id},
    )


def release(rs: RunView, task: Mapping[str, Any], why: str) -> None:
    """An item a cancelled or skipped task held (and not handed over) is free again."""
    held = rs.tx.held_item(rs.run_id, task["id"])
    if held is not None and held["status"] == "allocated":
        rs.tx.set_pool_item(
            held["site_id"],
            held["pool_id"],
            held["item_key"],
            expect=["allocated"],
            status="available",
            run_id=None,
            task_id=None,
            at=rs.now,
        )
        rs.audit("pool.release", task["id"], why, actor="engine", item=held["item_key"])


def confirm_handover(rs: RunView, step: PlannedStep, task: Mapping[str, Any], given: str, by: str) -> dict[str, Any]:
    """The owner hands an item over and types its key: the allocated one confirms; another
    available item of the same pool (IT handed over a different laptop) swaps the allocation —
    the task's outputs become the new item's, the first goes back to the pool; anything else is
    refused, saying why. The outputs carry `by`: the person who handed it over is the doer of
    this item (four eyes, flows/rules.check_four_eyes)."""
    pool_id = str(step.params["pool"])
    site_id = stock_of(rs.run, rs.plan.site.id)
    held = rs.tx.held_item(rs.run_id, task["id"])
    noun = item_noun(pool_id)
    key = held["item_key"] if held else None
    given = given.strip()
    pool = rs.plan.site.pools.get(pool_id)
    if not given:
        raise Invalid(
            f"type the {pool.key if pool else 'key'} of the {noun} you hand over"
            + (f" (allocated: {key})" if key else ""),
            cli=f"confirm the hand-over of {task['id']} with the key of the item handed over: "
            f"--field asset={key or '<key>'}",
        )
    if held is not None and given == key:
        rs.tx.set_pool_item(site_id, pool_id, given, expect=["allocated"], status="handed_over", at=rs.now)
        return {**(task["outputs"] or {}), "by": by, "handed_over": given, "handed_over_by": by}
    other = rs.tx.pool_item(site_id, pool_id, given)
    if other is None or other["status"] != "available":
        why = _not_available(rs, pool_id, given, other)
        raise Invalid(
            f"{given} is not an available {noun} of this pool: {why}",
            cli=f"{given} is not an available item of pool {pool_id}: {why}; confirm the hand-over of {task['id']} "
            f"with --field asset={key or '<key>'} (allocated) or the key of another available item of {pool_id}",
        )
    if not rs.tx.set_pool_item(
        site_id,
        pool_id,
        given,
        expect=["available"],
        status="handed_over",
        run_id=rs.run_id,
        task_id=task["id"],
        at=rs.now,
    ):  # taken by another run since it was read: the owner tries again and is told who has it
        raise Invalid(f"{given} is not an available {noun} of this pool: it was just allocated elsewhere")
    if held is not None and key is not None:
        rs.tx.set_pool_item(
            site_id, pool_id, key, expect=["allocated"], status="available", run_id=None, task_id=None, at=rs.now
        )
    rs.audit("pool.swap", task["id"], pool=pool_id, item=given, was=key)
    return {**other["data"], "by": by, "handed_over": given, "handed_over_by": by, "swapped_from": key}


def item_noun(pool_id: str) -> str:
    """A pool's item in words: `laptops` → laptop."""
    return pool_id[:-1] if pool_id.endswith("s") and len(pool_id) > 1 else pool_id


def _not_available(rs: RunView, pool_id: str, key: str, item: Mapping[str, Any] | None) -> str:
    if item is None:
        return f"pool {pool_id} has no {key}"
    if item["status"] in ("allocated", "handed_over"):
        holder = str(item["task_id"] or "").partition(":")[2] or item["task_id"]
        elsewhere = "" if item["run_id"] == rs.run_id else f" in run {item['run_id']}"
        verb = "allocated" if item["status"] == "allocated" else "handed over"
        return f"it is {verb} to {holder}{elsewhere}"
    return f"it is {item['status']}"


def blocked_tasks(reader: Reader, run_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in reader.tasks(run_id, states=["ready"])
        if t["kind"] == "allocate" and (t["reason"] or "").startswith(SHORTAGE)
    ]


def with_live_stock(tx: Any, plan: Any, stock_site: str | None = None) -> Any:
    """A plan whose site pools show the store's stock (who holds what now) rather than the CSV:
    the stand-down runbook iterates the laptops handed out (in a drill, those of its sandbox)."""
    import dataclasses

    from runbooks.site_files import Pool

    where = stock_site or plan.site.id
    stock = tx.pool_stock(where)
    if not stock and where != plan.site.id:  # a sandbox not copied yet: the real stock is what it will copy
        where = plan.site.id
        stock = tx.pool_stock(where)
    if not stock:
        return plan
    live = {}
    for pool_id, pool in plan.site.pools.items():
        if pool_id not in stock:
            live[pool_id] = pool
            continue
        rows = tuple({**item["data"], "status": item["status"]} for item in tx.pool_items(where, pool_id))
        live[pool_id] = Pool(pool.id, pool.key, pool.columns, rows)
    return dataclasses.replace(plan, site=dataclasses.replace(plan.site, pools=live))


def give_back(rs: RunView, pool_id: str, task: Mapping[str, Any], condition: str | None) -> None:
    """A returned item is in stock again (or recorded as damaged or missing)."""
    status = "available" if condition in (None, "", "good") else str(condition)[:16]
    key = task["item_key"]
    if rs.tx.set_pool_item(
        stock_of(rs.run, rs.plan.site.id),
        pool_id,
        key,
        expect=["allocated", "handed_over"],
        status=status,
        run_id=None,
        task_id=None,
        at=rs.now,
    ):
        rs.audit("pool.return", task["id"], actor=rs.actor, pool=pool_id, item=key, status=status)
    # Returned or reported missing: access granted for that asset goes with it.
    why = "reported missing" if status == "missing" else "returned"
    grant_ledger.revoke_asset(rs, str(key), f"laptop {key} {why}")
