"""Consumable pools (supplies): one stock row per item kind with its `quantity` (seeded from the
pool CSV on first use, like laptops). A manual step's `draws:` takes quantities when its task
is checked off (refused, naming the level, when there is not enough); a level that falls under
the pool's `min` alerts the task's owner and the managers once (`pool.low`), until a restock
(quantities from a CSV, or moved from another site's pool) brings it back over."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.expressions import ExpressionError, render_value
from runbooks.plan import PlannedStep
from runbooks.sites import Site

from . import notify, pools
from .errors import Conflict, Invalid
from .runview import RunView


def levels(tx: Any, site: Site, pool_id: str) -> dict[str, int]:
    pools.seed(tx, site, pool_id)
    return {i["item_key"]: int(i["data"].get("quantity") or 0) for i in tx.pool_items(site.id, pool_id)}


def draw(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """The task's draws, taken now (all or none): `{pool: {item: quantity}}`."""
    taken: dict[str, dict[str, int]] = {}
    site = rs.plan.site
    for pool_id, wanted in (step.params.get("draws") or {}).items():
        pool = site.pools.get(pool_id)
        if pool is None or not pool.consumable:
            raise Invalid(f"step {step.id} draws from {pool_id}, which is not a consumable pool of site {site.id}")
        have = levels(rs.tx, site, pool_id)
        amounts = {}
        for item, value in wanted.items():
            try:
                n = int(render_value(value, rs.context(step, task)) if isinstance(value, str) else value)
            except (ExpressionError, TypeError, ValueError) as e:
                raise Invalid(f"task {task['id']}: the quantity of {item} to draw: {e}") from None
            if n < 0:
                raise Invalid(f"task {task['id']}: cannot draw {n} {item}")
            if item not in have:
                raise Invalid(f"pool {pool_id} has no item {item}")
            if have[item] < n:
                raise Conflict(f"pool {pool_id} has {have[item]} {item}, {n} needed: restock it first")
            amounts[item] = n
        minimum = dict(pool.minimum)
        for item, n in amounts.items():
            row = next(i for i in rs.tx.pool_items(site.id, pool_id) if i["item_key"] == item)
            level = have[item] - n
            data = {**row["data"], "quantity": str(level)}
            low = item in minimum and level < minimum[item]
            alert = low and not row["data"].get("low_alerted")
            if alert:
                data["low_alerted"] = True
            rs.tx.set_pool_item(site.id, pool_id, item, expect=[row["status"]], data=data, at=rs.now)
            if alert:
                rs.audit("pool.low", task["id"], actor="engine", pool=pool_id, item=item, level=level)
                notify.tell(
                    rs,
                    "pool.low",
                    [t for t in (task.get("owner"), "role:manager") if t],
                    step=step,
                    task=task,
                    data={"pool": pool_id, "item": item, "level": level, "min": minimum[item]},
                )
        rs.audit("pool.draw", task["id"], pool=pool_id, quantities=amounts)
        taken[pool_id] = amounts
    return taken


def restock(
    tx: Any, site: Site, pool_id: str, rows: Sequence[Mapping[str, str]], source: Site | None
) -> dict[str, int]:
    """Quantities added to a consumable pool (`rows`: item, quantity), moved from `source`'s pool
    of the same id when given; a level back at its min is alerted again next time it falls."""
    if not rows:
        raise Invalid("nothing to add: give a CSV of item,quantity (with --from SITE, moved from there)")
    pool = site.pools[pool_id]
    have = levels(tx, site, pool_id)
    given: dict[str, int] = {}
    for n, row in enumerate(rows, 2):
        item, quantity = (row.get(pool.key) or "").strip(), (row.get("quantity") or "").strip()
        if not item or not quantity.isdigit() or int(quantity) < 1:
            raise Invalid(f"line {n}: give {pool.key} and a quantity of 1 or more")
        given[item] = given.get(item, 0) + int(quantity)
    if source is not None:
        there = levels(tx, source, pool_id)
        for item, n in given.items():
            if there.get(item, 0) < n:
                raise Conflict(f"site {source.id} has {there.get(item, 0)} {item} in {pool_id}, not {n}")
        for item, n in given.items():
            _set_level(tx, source, pool_id, item, there[item] - n, minimum={})
    minimum = dict(pool.minimum)
    for item, n in given.items():
        if item in have:
            _set_level(tx, site, pool_id, item, have[item] + n, minimum=minimum)
        else:
            tx.add_pool_items(
                site.id,
                pool_id,
                [{"item_key": item, "data": {pool.key: item, "quantity": str(n)}, "status": "available"}],
            )
    return given


def _set_level(tx: Any, site: Site, pool_id: str, item: str, level: int, *, minimum: Mapping[str, int]) -> None:
    row = next(i for i in tx.pool_items(site.id, pool_id) if i["item_key"] == item)
    data = {**row["data"], "quantity": str(level)}
    if level >= minimum.get(item, 0):
        data.pop("low_alerted", None)
    tx.set_pool_item(site.id, pool_id, item, expect=[row["status"]], data=data)
