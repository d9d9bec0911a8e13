"""Pool stock, as the Engine's part: stock per pool of a site, and restocking
mid-run (moved from another site or new items), which serves the items waiting for stock in
every running run of the site (flows/pools.py does the work inside a run's transaction)."""

from __future__ import annotations

from typing import Any

from . import idempotency, pools, rules
from .actors import Actor
from .errors import Conflict, Invalid, NotFound
from .runstate import RunState
from .session import change_run
from .store import Store, Tx, utcnow


class StockOps:
    def __init__(self, store: Store):
        self.store = store

    def pools(self, site_id: str) -> dict[str, Any]:
        """Stock per pool of a site: total, available, allocated, handed over (the CSV's until a
        run first draws from it)."""
        site = rules.site_named(site_id, allow_path=False)
        with self.store.read() as r:
            stock = r.pool_stock(site.id)
        out = {}
        for pool_id, pool in site.pools.items():
            counts = stock.get(pool_id) or {
                "available": len(pool.available()),
                "unavailable": len(pool.rows) - len(pool.available()),
            }
            out[pool_id] = {
                "total": sum(counts.values()),
                **{k: counts.get(k, 0) for k in ("available", "allocated", "handed_over")},
            }
        return {"site": site.id, "pools": out}

    def restock(
        self,
        site_id: str,
        pool_id: str,
        actor: Actor,
        *,
        from_site: str | None = None,
        count: int | None = None,
        rows: list[dict[str, str]] | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Stock into a site's pool mid-run: `count` available items moved from another site's
        pool of the same id, or new items (`rows`, from a CSV); then items blocked for want of
        stock are served, in every running run of the site. Audited on the site's chain."""
        rules.require_manager(actor, "restock a pool")
        site = rules.site_named(site_id, allow_path=False)
        rules.require_site(actor, site.id, "restock a pool")
        if pool_id not in site.pools:
            raise NotFound(f'site {site.id} has no pool "{pool_id}" (pools: {", ".join(site.pools) or "none"})')
        key_column = site.pools[pool_id].key
        now = utcnow()

        def act(tx: Tx) -> dict[str, Any]:
            tx.lock_chain(f"site:{site.id}")
            pools.seed(tx, site, pool_id)
            if from_site is not None:
                source = rules.site_named(from_site, allow_path=False)
                if pool_id not in source.pools:
                    raise NotFound(f'site {source.id} has no pool "{pool_id}"')
                pools.seed(tx, source, pool_id)
                free = tx.pool_items(source.id, pool_id, status="available", limit=count)
                if not count or count < 1:
                    raise Invalid("--count must be 1 or more")
                if len(free) < count:
                    raise Conflict(f"site {source.id} has {len(free)} available in {pool_id}, not {count}")
                moved = tx.move_pool_items([f["item_key"] for f in free], source.id, pool_id, site.id, pool_id)
                keys = [f["item_key"] for f in free]
            else:
                new = rows or []
                if not new:
                    raise Invalid("nothing to add: give --from SITE --count N, or a CSV of new items")
                have = {i["item_key"] for i in tx.pool_items(site.id, pool_id)}
                keys = []
                for n, row in enumerate(new, 2):
                    item = (row.get(key_column) or "").strip()
                    if not item:
                        raise Invalid(f"line {n}: no {key_column}")
                    if item in have or item in keys:
                        raise Invalid(f"line {n}: {key_column} {item} is already in pool {pool_id}")
                    keys.append(item)
                tx.add_pool_items(
                    site.id,
                    pool_id,
                    [
                        {"item_key": (r.get(key_column) or "").strip(), "data": dict(r), "status": "available"}
                        for r in new
                    ],
                )
                moved = len(new)
            tx.append_audit(
                f"site:{site.id}",
                actor=actor.label,
                action="pool.restock",
                target=pool_id,
                reason=reason,
                detail={"from": from_site, "count": moved, "items": keys},
                at=now,
            )
            return {"added": moved}

        request = {"op": "restock", "site": site.id, "pool": pool_id, "from": from_site, "count": count, "rows": rows}
        moved = idempotency.once(self.store, idempotency.key_for(actor.identity, key, request), act)["added"]
        served = 0
        with self.store.read() as r:
            runs = [run["id"] for run in r.runs(states=["running"], site_id=site.id)]
        for run_id in runs:
            served += change_run(self.store, run_id, "engine", _serve_blocked)
        return {"site": site.id, "pool": pool_id, "added": moved, "served": served, **self.pools(site.id)}


def _serve_blocked(rs: RunState) -> Any:
    """Items of a run waiting for stock, served from what is in the pool now."""
    served = 0
    for task in pools.blocked_tasks(rs.tx, rs.run_id):
        step = rs.plan.find(task["step_id"])
        if step is not None and pools.allocate(rs, step, task):
            served += 1
    return lambda rs: served
