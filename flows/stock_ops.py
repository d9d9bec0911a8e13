"""Pool stock, as the Engine's part: stock per pool of a site (or of a drill's sandbox), and
restocking mid-run (moved from another site or new items, with a reason), which serves the
items waiting for stock in the running runs of that stock (flows/pools.py does the work inside
a run's transaction). A drill's restock moves stock between the sites' copies in its sandbox
only: the real pools stay as they were."""

from __future__ import annotations

from typing import Any

from runbooks.sites import Site

from . import idempotency, pools, rules, supplies
from .actors import Actor
from .errors import Conflict, Invalid, NotFound
from .runstate import RunState
from .session import change_run
from .store import Store, Tx, utcnow


class StockOps:
    def __init__(self, store: Store):
        self.store = store

    def pools(self, site_id: str, *, drill: bool = False) -> dict[str, Any]:
        """Stock per pool of a site: total, available, allocated, handed over (the CSV's until a
        run first draws from it); `drill`: the copy in the sandbox of the site's active drill."""
        site = rules.site_named(site_id, allow_path=False)
        with self.store.read() as r:
            where = pools.stock_id(site.id, _sandbox(r, site.id)) if drill else site.id
            stock = r.pool_stock(where) or (r.pool_stock(site.id) if drill else {})
        out = {}
        for pool_id, pool in site.pools.items():
            counts = stock.get(pool_id) or {
                "available": len(pool.available()),
                "unavailable": len(pool.rows) - len(pool.available()),
            }
            entry: dict[str, Any] = {
                "total": sum(counts.values()),
                **{k: counts.get(k, 0) for k in ("available", "allocated", "handed_over")},
            }
            if pool.consumable:  # supplies: the level of each item kind, and its min
                with self.store.read() as r:
                    stored = {i["item_key"]: i["data"] for i in r.pool_items(site.id, pool_id)}
                rows = stored or {row[pool.key]: row for row in pool.rows}
                minimum = dict(pool.minimum)
                entry["levels"] = {
                    item: {"quantity": int(d.get("quantity") or 0), "min": minimum.get(item)}
                    for item, d in rows.items()
                }
            out[pool_id] = entry
        return {"site": site.id, "pools": out, **({"drill": True} if drill else {})}

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
        drill: bool | None = None,
    ) -> dict[str, Any]:
        """Stock into a site's pool mid-run: `count` available items moved from another site's
        pool of the same id, or new items (`rows`, from a CSV); then items blocked for want of
        stock are served, in every running run of that stock. Audited on the site's chain, with
        its reason (required). `drill`: into the sandbox of the site's drill (True), the real
        stock (False), or, when None, the sandbox if the site's running runs are all drills."""
        rules.require_manager(actor, "restock a pool")
        if not (reason or "").strip():
            raise Invalid(
                "a restock needs a reason: why the stock moves",
                cli="a restock needs a reason: give --reason R (why the stock moves)",
            )
        site = rules.site_named(site_id, allow_path=False)
        rules.require_site(actor, site.id, "restock a pool")
        with self.store.read() as r:
            running = r.runs(states=["running"], site_id=site.id)
            if drill is None:
                drill = bool(running) and all(run["drill"] for run in running)
            sandbox = _sandbox(r, site.id) if drill else None
        if drill and sandbox is None:
            raise Conflict(f'site "{site.id}" has no drill running: nothing to restock in a drill')
        target = pools.stock_id(site.id, sandbox)
        if pool_id not in site.pools:
            raise NotFound(f'site {site.id} has no pool "{pool_id}" (pools: {", ".join(site.pools) or "none"})')
        key_column = site.pools[pool_id].key
        now = utcnow()

        def audited(tx: Tx, detail: dict[str, Any]) -> None:
            """The restock's row on the site's chain (what moved is `detail`)."""
            tx.append_audit(
                f"site:{site.id}",
                actor=actor.label,
                action="pool.restock",
                target=pool_id,
                reason=reason,
                detail=detail,
                at=now,
            )

        def act(tx: Tx) -> dict[str, Any]:
            tx.lock_chain(f"site:{site.id}")
            pools.seed(tx, site, pool_id, target)
            if site.pools[pool_id].consumable:
                source = _source(from_site, pool_id) if from_site else None
                added = supplies.restock(tx, site, pool_id, rows or [], source)
                audited(tx, {"from": from_site, "quantities": added})
                return {"added": sum(added.values()), "quantities": added}
            if from_site is not None:
                source = _source(from_site, pool_id)
                origin = pools.stock_id(source.id, sandbox)
                pools.seed(tx, source, pool_id, origin)
                free = tx.pool_items(origin, pool_id, status="available", limit=count)
                if not count or count < 1:
                    raise Invalid("--count must be 1 or more")
                if len(free) < count:
                    raise Conflict(f"site {source.id} has {len(free)} available in {pool_id}, not {count}")
                moved = tx.move_pool_items([f["item_key"] for f in free], origin, pool_id, target, pool_id)
                keys = [f["item_key"] for f in free]
            else:
                new = rows or []
                if not new:
                    raise Invalid("nothing to add: give --from SITE --count N, or a CSV of new items")
                have = {i["item_key"] for i in tx.pool_items(target, pool_id)}
                keys = []
                for n, row in enumerate(new, 2):
                    item = (row.get(key_column) or "").strip()
                    if not item:
                        raise Invalid(f"line {n}: no {key_column}")
                    if item in have or item in keys:
                        raise Invalid(f"line {n}: {key_column} {item} is already in pool {pool_id}")
                    keys.append(item)
                tx.add_pool_items(
                    target,
                    pool_id,
                    [
                        {"item_key": (r.get(key_column) or "").strip(), "data": dict(r), "status": "available"}
                        for r in new
                    ],
                )
                moved = len(new)
            audited(tx, {"from": from_site, "count": moved, "items": keys, "drill": sandbox})
            return {"added": moved}

        request = {
            "op": "restock",
            "site": site.id,
            "pool": pool_id,
            "from": from_site,
            "count": count,
            "rows": rows,
            "drill": sandbox,
        }
        first = idempotency.once(self.store, idempotency.key_for(actor.identity, key, request), act)
        moved = first["added"]
        served = 0
        with self.store.read() as r:
            runs = [
                run["id"] for run in r.runs(states=["running"], site_id=site.id) if pools.sandbox_key(run) == sandbox
            ]
        for run_id in runs:
            served += change_run(self.store, run_id, "engine", _serve_blocked)
        stock = self.pools(site.id, drill=sandbox is not None)
        extra = {"quantities": first["quantities"]} if "quantities" in first else {}
        return {**stock, "site": site.id, "pool": pool_id, "added": moved, "served": served, **extra}


def _serve_blocked(rs: RunState) -> Any:
    """Items of a run waiting for stock, served from what is in the pool now."""
    served = 0
    for task in pools.blocked_tasks(rs.tx, rs.run_id):
        step = rs.plan.find(task["step_id"])
        if step is not None and pools.allocate(rs, step, task):
            served += 1
    return lambda rs: served


def _sandbox(reader: Any, site_id: str) -> str | None:
    """The sandbox of the site's drill: its active drill lockdown's, else the one its running
    drill runs share (a stand-down's, a drill started alone); None when none or several."""
    lock = reader.active_lockdown(site_id, True)
    if lock is not None:
        return str(lock["id"])
    keys = {pools.sandbox_key(run) for run in reader.runs(states=["running"], site_id=site_id) if run["drill"]}
    if not keys:  # a site another site's drill borrowed from
        keys = set(reader.sandboxes_of(site_id))
    return keys.pop() if len(keys) == 1 else None


def _source(site_id: str, pool_id: str) -> Site:
    """The site a restock moves stock from, which must have a pool of the same id."""
    source = rules.site_named(site_id, allow_path=False)
    if pool_id not in source.pools:
        raise NotFound(f'site {source.id} has no pool "{pool_id}"')
    return source
