"""The SQL of people and things (mixins of Reader and Tx): roll-call links and answers, pool
stock, accounts and sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from .base import Queries, insert_ignore
from .counts import answered_key, done_minute
from .schema import accounts, lockdowns, muster_answers, muster_links, oidc_sessions, pool_items, runs, sessions

_LAST_ANSWER = select(func.max(muster_answers.c.pk)).where(
    muster_answers.c.run_id == bindparam("run_id"), muster_answers.c.step_id == bindparam("step_id")
)

# A roll-call answer's statements, built once (an answer runs each of them).
_LINK = select(muster_links).where(muster_links.c.token == bindparam("token"))
_LINK_FOR = select(muster_links).where(
    muster_links.c.run_id == bindparam("run_id"),
    muster_links.c.step_id == bindparam("step_id"),
    muster_links.c.person_id == bindparam("person_id"),
)
_CURRENT = (  # bound names other than the columns': the UPDATE would reserve those
    muster_answers.c.run_id == bindparam("a_run"),
    muster_answers.c.step_id == bindparam("a_step"),
    muster_answers.c.person_id == bindparam("a_person"),
    muster_answers.c.current.is_(True),
)
_CURRENT_ANSWER = select(muster_answers.c.option).where(*_CURRENT)
_NOT_CURRENT = update(muster_answers).where(*_CURRENT).values(current=False)
_INSERT_ANSWER = insert(muster_answers)

_SESSION = select(sessions).where(sessions.c.id_hash == bindparam("id_hash"))
_ACCOUNT = select(accounts).where(accounts.c.id == bindparam("id"))


class PeopleReads(Queries):
    # --- roll calls ---------------------------------------------------------------------------

    def muster_link(self, token: str) -> dict[str, Any] | None:
        return self.fetch_one(_LINK, {"token": token})

    def muster_links(self, run_id: str, step_id: str) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(muster_links)
            .where(muster_links.c.run_id == run_id, muster_links.c.step_id == step_id)
            .order_by(muster_links.c.person_id)
        )

    def muster_asked(self, run_id: str, step_id: str) -> list[str]:
        """The ids of the people a roll call asks (its links' people), without their tokens."""
        stmt = select(muster_links.c.person_id).where(
            muster_links.c.run_id == run_id, muster_links.c.step_id == step_id
        )
        return [row[0] for row in self.conn.execute(stmt.order_by(muster_links.c.person_id))]

    def last_answer_pk(self, run_id: str, step_id: str) -> int:
        """The newest answer's row number (0 before any): what a kept headcount is checked against."""
        return int(self.conn.execute(_LAST_ANSWER, {"run_id": run_id, "step_id": step_id}).scalar() or 0)

    def current_answers(self, run_id: str, step_id: str) -> dict[str, tuple[str, datetime]]:
        """Each person's current answer to a roll call: person id → (option, when)."""
        stmt = select(muster_answers.c.person_id, muster_answers.c.option, muster_answers.c.at).where(
            muster_answers.c.run_id == run_id,
            muster_answers.c.step_id == step_id,
            muster_answers.c.current.is_(True),
        )
        return {person: (option, at) for person, option, at in self.conn.execute(stmt)}

    def muster_link_for(self, run_id: str, step_id: str, person_id: str) -> dict[str, Any] | None:
        return self.fetch_one(_LINK_FOR, {"run_id": run_id, "step_id": step_id, "person_id": person_id})

    def current_answer(self, run_id: str, step_id: str, person_id: str) -> str | None:
        params = {"a_run": run_id, "a_step": step_id, "a_person": person_id}
        return self.conn.execute(_CURRENT_ANSWER, params).scalar()

    def muster_answers(self, run_id: str, step_id: str, *, current_only: bool = True) -> list[dict[str, Any]]:
        stmt = select(muster_answers).where(muster_answers.c.run_id == run_id, muster_answers.c.step_id == step_id)
        if current_only:
            stmt = stmt.where(muster_answers.c.current.is_(True))
        return self.fetch_all(stmt.order_by(muster_answers.c.pk))

    def answers_of(self, run_id: str, person_id: str) -> list[dict[str, Any]]:
        """A person's answers to every roll call of a run, the changed ones too, in order."""
        stmt = select(muster_answers).where(muster_answers.c.run_id == run_id, muster_answers.c.person_id == person_id)
        return self.fetch_all(stmt.order_by(muster_answers.c.pk))

    # --- pools ----------------------------------------------------------------------------------

    def pool_stock(self, site_id: str) -> dict[str, dict[str, int]]:
        stmt = (
            select(pool_items.c.pool_id, pool_items.c.status, func.count())
            .where(pool_items.c.site_id == site_id)
            .group_by(pool_items.c.pool_id, pool_items.c.status)
        )
        out: dict[str, dict[str, int]] = {}
        for pool, status, n in self.conn.execute(stmt):
            out.setdefault(pool, {})[status] = n
        return out

    def sandboxes_of(self, site_id: str) -> list[str]:
        """The drills' sandboxes holding a copy of the site's stock ("<site>~<sandbox>")."""
        stmt = select(pool_items.c.site_id).where(pool_items.c.site_id.like(f"{site_id}~%")).distinct()
        return sorted(str(s).partition("~")[2] for (s,) in self.conn.execute(stmt))

    def pool_items(
        self, site_id: str, pool_id: str, *, status: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(pool_items).where(pool_items.c.site_id == site_id, pool_items.c.pool_id == pool_id)
        if status:
            stmt = stmt.where(pool_items.c.status == status)
        stmt = stmt.order_by(pool_items.c.item_key)
        return self.fetch_all(stmt.limit(limit) if limit else stmt)

    def pool_item(self, site_id: str, pool_id: str, key: str) -> dict[str, Any] | None:
        return self.fetch_one(
            select(pool_items).where(
                pool_items.c.site_id == site_id, pool_items.c.pool_id == pool_id, pool_items.c.item_key == key
            )
        )

    def held_item(self, run_id: str, task_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(pool_items).where(pool_items.c.run_id == run_id, pool_items.c.task_id == task_id))

    # --- accounts and sessions --------------------------------------------------------------

    def account_by_token(self, token_hash: str) -> dict[str, Any] | None:
        return self.fetch_one(select(accounts).where(accounts.c.token_hash == token_hash))

    def account(self, account_id: str) -> dict[str, Any] | None:
        return self.fetch_one(_ACCOUNT, {"id": account_id})

    def accounts(self) -> list[dict[str, Any]]:
        return self.fetch_all(select(accounts).order_by(accounts.c.created_at, accounts.c.name))

    def session(self, id_hash: str) -> dict[str, Any] | None:
        """A signed-in session (every request with a cookie reads it and its account: both
        statements built once)."""
        return self.fetch_one(_SESSION, {"id_hash": id_hash})


class PeopleWrites(Queries):
    def insert_account(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(accounts).values(**row))

    def revoke_account(self, name: str, at: datetime) -> bool:
        active = self.fetch_one(select(accounts.c.id).where(accounts.c.name == name, accounts.c.revoked_at.is_(None)))
        if active is None:
            return False
        self.conn.execute(update(accounts).where(accounts.c.id == active["id"]).values(revoked_at=at))
        self.conn.execute(sessions.delete().where(sessions.c.account_id == active["id"]))
        self.conn.execute(oidc_sessions.delete().where(oidc_sessions.c.account_id == active["id"]))
        return True

    def insert_session(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(sessions).values(**row))

    def touch_session(self, id_hash: str, at: datetime) -> None:
        self.conn.execute(update(sessions).where(sessions.c.id_hash == id_hash).values(last_seen=at))

    def delete_session(self, id_hash: str) -> None:
        self.conn.execute(sessions.delete().where(sessions.c.id_hash == id_hash))
        self.conn.execute(oidc_sessions.delete().where(oidc_sessions.c.session_hash == id_hash))

    def insert_muster_links(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(muster_links), list(rows))

    def record_muster_answer(self, row: Mapping[str, Any], *, first: bool) -> None:
        """The person's answer; their earlier one (none when `first`: the caller has just read
        that they have no current answer) stays in the history, no longer current. A first
        answer is counted in its minute of run time (the roll call's burn-up, counts.py)."""
        if not first:
            person = {"a_run": row["run_id"], "a_step": row["step_id"], "a_person": row["person_id"]}
            self.conn.execute(_NOT_CURRENT, person)
        self.conn.execute(_INSERT_ANSWER, {**row, "current": True})
        if first:
            head = self.run_head(row["run_id"])  # type: ignore[attr-defined]  # Tx: read once per transaction
            minute = done_minute(row["at"], float(head["time_scale"] or 1) if head else 1.0)
            self.count_done(row["run_id"], answered_key(row["step_id"]), minute, +1)  # type: ignore[attr-defined]

    def seed_pool(self, site_id: str, pool_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """The pool's stock from its CSV, once (a pool already in the store keeps its state)."""
        if (
            self.fetch_one(
                select(pool_items.c.item_key)
                .where(pool_items.c.site_id == site_id, pool_items.c.pool_id == pool_id)
                .limit(1)
            )
            is None
        ):
            for row in rows:
                self.conn.execute(
                    insert_ignore(self.dialect, pool_items).values(site_id=site_id, pool_id=pool_id, **row)
                )

    def take_pool_item(
        self, site_id: str, pool_id: str, run_id: str, task_id: str, at: datetime
    ) -> dict[str, Any] | None:
        """One available item for this task, or None: never the same item twice (PostgreSQL:
        rows another transaction is taking are skipped; SQLite has one writer)."""
        for _ in range(20):
            stmt = (
                select(pool_items)
                .where(
                    pool_items.c.site_id == site_id, pool_items.c.pool_id == pool_id, pool_items.c.status == "available"
                )
                .order_by(pool_items.c.item_key)
                .limit(1)
            )
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            row = self.fetch_one(stmt)
            if row is None:
                return None
            taken = self.conn.execute(
                update(pool_items)
                .where(
                    pool_items.c.site_id == site_id,
                    pool_items.c.pool_id == pool_id,
                    pool_items.c.item_key == row["item_key"],
                    pool_items.c.status == "available",
                )
                .values(status="allocated", run_id=run_id, task_id=task_id, at=at)
            ).rowcount
            if taken == 1:
                return {**row, "status": "allocated", "run_id": run_id, "task_id": task_id}
        return None

    def set_pool_item(self, site_id: str, pool_id: str, key: str, *, expect: Sequence[str], **values: Any) -> bool:
        return (
            self.conn.execute(
                update(pool_items)
                .where(
                    pool_items.c.site_id == site_id,
                    pool_items.c.pool_id == pool_id,
                    pool_items.c.item_key == key,
                    pool_items.c.status.in_(list(expect)),
                )
                .values(**values)
            ).rowcount
            == 1
        )

    def move_pool_items(self, keys: Sequence[str], from_site: str, pool_id: str, to_site: str, to_pool: str) -> int:
        return self.conn.execute(
            update(pool_items)
            .where(
                pool_items.c.site_id == from_site,
                pool_items.c.pool_id == pool_id,
                pool_items.c.item_key.in_(list(keys)),
                pool_items.c.status == "available",
            )
            .values(site_id=to_site, pool_id=to_pool)
        ).rowcount

    def close_sandbox(self, sandbox: str, lockdown_id: str | None, ending: str | None = None) -> bool:
        """A drill's sandbox ends once its lockdown is over (stood down) and none of its runs
        (the lockdown's, the stand-down's; or the drill run alone) runs any more but `ending`."""
        if lockdown_id is not None:
            lock = self.fetch_one(select(lockdowns.c.active_site).where(lockdowns.c.id == lockdown_id))
            if lock is not None and lock["active_site"] is not None:
                return False
            mine = runs.c.lockdown_id == lockdown_id
        else:
            mine = runs.c.id == sandbox
        stmt = select(func.count()).select_from(runs).where(mine, runs.c.state == "running")
        if ending is not None:
            stmt = stmt.where(runs.c.id != ending)
        if self.conn.execute(stmt).scalar_one():
            return False
        self.drop_sandbox(sandbox)
        return True

    def drop_sandbox(self, sandbox: str) -> int:
        """A drill's copy of the stock of every site it touched ("<site>~<sandbox>"), gone."""
        return int(self.conn.execute(delete(pool_items).where(pool_items.c.site_id.like(f"%~{sandbox}"))).rowcount)

    def add_pool_items(self, site_id: str, pool_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.conn.execute(insert(pool_items), [{"site_id": site_id, "pool_id": pool_id, **r} for r in rows])
