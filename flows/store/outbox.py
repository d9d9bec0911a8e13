"""The outbox's SQL (mixins of Reader and Tx): queue, claim, finish, re-queue, list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from .base import Queries, json_ready
from .schema import outbox

# Occurrences so far of each thread, for all the threads of one queueing in one statement.
_COUNT_THREADS = (
    select(outbox.c.thread, func.count())
    .where(outbox.c.thread.in_(bindparam("threads", expanding=True)))
    .group_by(outbox.c.thread)
)
_INSERT_OUTBOX = insert(outbox)
_FINISH_COLUMNS = ("state", "attempts", "next_attempt_at", "sent_at", "last_error")
_FINISH_OUTBOX = (
    update(outbox)
    .where(outbox.c.pk == bindparam("b_pk"), outbox.c.next_attempt_at == bindparam("b_until"))
    .values({c: bindparam(c) for c in _FINISH_COLUMNS})
)


class OutboxReads(Queries):
    def outbox(
        self, *, states: Sequence[str] | None = None, run_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(outbox).order_by(outbox.c.pk)
        if states:
            stmt = stmt.where(outbox.c.state.in_(states))
        if run_id:
            stmt = stmt.where(outbox.c.run_id == run_id)
        return self.fetch_all(stmt.limit(limit) if limit else stmt)

    def outbox_counts(self) -> dict[str, int]:
        stmt = select(outbox.c.state, func.count()).group_by(outbox.c.state)
        return {state: n for state, n in self.conn.execute(stmt)}


class OutboxWrites(OutboxReads):
    # Queued notifications wait here and are written together before the commit (one insert
    # for a group of changes) or before any read or change of the outbox in this transaction.
    _pending_outbox: list[dict[str, Any]]

    def insert_outbox(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Queue notifications; each row's `thread` gets its occurrence number n when written
        (the dedup key is `<thread>:<n>`)."""
        self._pending_outbox.extend(
            {
                "run_id": None,
                "task_id": None,
                "address": None,
                "state": "pending",
                "attempts": 0,
                "sent_at": None,
                "last_error": None,
                **row,
                "message": json_ready(row["message"]),
                "channel_spec": json_ready(row["channel_spec"]),
            }
            for row in rows
        )

    def flush_outbox(self) -> None:
        """Write the notifications queued so far, numbered within their threads in the order
        they were queued: one count of the threads' earlier rows, one insert."""
        if not self._pending_outbox:
            return
        rows, self._pending_outbox = self._pending_outbox, []
        threads = sorted({row["thread"] for row in rows})
        seen: dict[str, int] = dict.fromkeys(threads, 0)
        for i in range(0, len(threads), 1000):  # bounded IN lists (SQLite's variable limit)
            page = threads[i : i + 1000]
            seen.update({t: int(n) for t, n in self.conn.execute(_COUNT_THREADS, {"threads": page})})
        for row in rows:
            seen[row["thread"]] += 1
            row["key"] = f"{row['thread']}:{seen[row['thread']]}"
        self.conn.execute(_INSERT_OUTBOX, rows)

    # Reads and changes of the outbox inside a writing transaction see what it queued.
    def outbox(
        self, *, states: Sequence[str] | None = None, run_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        self.flush_outbox()
        return super().outbox(states=states, run_id=run_id, limit=limit)

    def outbox_counts(self) -> dict[str, int]:
        self.flush_outbox()
        return super().outbox_counts()

    def claim_outbox(self, now: datetime, until: datetime, limit: int) -> list[dict[str, Any]]:
        """Take up to `limit` due notifications for delivery: they are not due again before
        `until` (a dispatcher that dies mid-batch leaves them to be sent again then)."""
        self.flush_outbox()
        stmt = (
            select(outbox)
            .where(outbox.c.state == "pending", outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at, outbox.c.pk)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = self.fetch_all(stmt)
        if rows:
            self.conn.execute(
                update(outbox).where(outbox.c.pk.in_([r["pk"] for r in rows])).values(next_attempt_at=until)
            )
        return rows

    def finish_outbox(self, results: Sequence[Mapping[str, Any]], claimed_until: datetime) -> None:
        """Record outcomes (pk, state, attempts, next_attempt_at, sent_at, last_error) of rows
        this dispatcher claimed until `claimed_until`: a row another dispatcher re-claimed
        after this one's lease ran out is theirs now, and keeps their outcome."""
        if results:
            self.conn.execute(
                _FINISH_OUTBOX,
                [{"b_pk": r["pk"], "b_until": claimed_until, **{k: r[k] for k in _FINISH_COLUMNS}} for r in results],
            )

    def requeue_outbox(self, now: datetime, keys: Sequence[str] | None = None) -> int:
        """Dead (or named) notifications → pending, due now, with a fresh attempt count."""
        self.flush_outbox()
        stmt = update(outbox).values(
            state="pending", next_attempt_at=now, attempts=0, last_error=None, created_at=now
        )  # its 24 h start again
        stmt = stmt.where(outbox.c.key.in_(keys)) if keys else stmt.where(outbox.c.state == "dead")
        return self.conn.execute(stmt.where(outbox.c.state != "sent")).rowcount
