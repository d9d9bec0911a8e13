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

from . import notify
from .errors import Invalid
from .runview import RunView
from .states import transition
from .store import Reader

SHORTAGE = "waiting for stock"


def seed(tx: Any, site: Site, pool_id: str) -> None:
    pool = site.pools.get(pool_id)
    if pool is None:
        return
    tx.seed_pool(
        site.id,
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
    seed(rs.tx, site, pool_id)
    item = rs.tx.take_pool_item(site.id, pool_id, rs.run_id, task["id"], rs.now)
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
    notify.queue(
        rs.tx,
        site=rs.plan.site,
        run=rs.run,
        event="pool.shortage",
        now=rs.now,
        task=task,
        targets=[t for t in (task["owner"], "role:manager") if t],
        context={**rs.context(step, task), "runbook_name": rs.plan.name},
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


def confirm_handover(
    rs: RunView, step: PlannedStep, task: Mapping[str, Any], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The owner hands the item over: they confirm with its key (`--field asset=<key>`)."""
    held = rs.tx.held_item(rs.run_id, task["id"])
    key = held["item_key"] if held else None
    given = str((fields or {}).get("asset", "")).strip()
    if held is None or key is None or given != key:
        raise Invalid(f"confirm the hand-over of {task['id']} with the item's key: --field asset={key}")
    rs.tx.set_pool_item(held["site_id"], held["pool_id"], key, expect=["allocated"], status="handed_over", at=rs.now)
    return {**(task["outputs"] or {}), "handed_over": key}


def blocked_tasks(reader: Reader, run_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in reader.tasks(run_id, states=["ready"])
        if t["kind"] == "allocate" and (t["reason"] or "").startswith(SHORTAGE)
    ]


def with_live_stock(tx: Any, plan: Any) -> Any:
    """A plan whose site pools show the store's stock (who holds what now) rather than the CSV:
    the stand-down runbook iterates the laptops handed out."""
    import dataclasses

    from runbooks.sites import Pool

    stock = tx.pool_stock(plan.site.id)
    if not stock:
        return plan
    live = {}
    for pool_id, pool in plan.site.pools.items():
        if pool_id not in stock:
            live[pool_id] = pool
            continue
        rows = tuple({**item["data"], "status": item["status"]} for item in tx.pool_items(plan.site.id, pool_id))
        live[pool_id] = Pool(pool.id, pool.key, pool.columns, rows)
    return dataclasses.replace(plan, site=dataclasses.replace(plan.site, pools=live))


def give_back(rs: RunView, pool_id: str, task: Mapping[str, Any], condition: str | None) -> None:
    """A returned item is in stock again (or recorded as damaged or missing)."""
    status = "available" if condition in (None, "", "good") else str(condition)[:16]
    key = task["item_key"]
    if rs.tx.set_pool_item(
        rs.plan.site.id,
        pool_id,
        key,
        expect=["allocated", "handed_over"],
        status=status,
        run_id=None,
        task_id=None,
        at=rs.now,
    ):
        rs.audit("pool.return", task["id"], actor=rs.actor, pool=pool_id, item=key, status=status)
