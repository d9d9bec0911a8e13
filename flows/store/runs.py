"""The SQL of runs and their tasks (mixins of Reader and Tx): lockdowns, runs, run steps,
tasks (a state is written only by `write_task_state`/`write_run_state`, or a page of tasks' by
`write_task_states` in task_pages.py, which flows/states.py calls), check-offs, events,
objectives met. The hot path's statements are built once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, union_all, update

from .base import Queries, as_read, insert_ignore, json_ready, row_of
from .counts import done_minute_of
from .outlines import OUTLINE_KEYS, had_outline, outline_row, outline_select
from .schema import checkoffs, events, lockdowns, objectives, run_steps, runs, tasks
from .task_pages import TaskPageWrites


def drill_site(site_id: str) -> str:
    """A drill lockdown's `active_site`: unique like a real one's, but not the same value."""
    return f"{site_id}~drill"


# Statements of the hot path, built once: building a statement costs more Python time than
# running it on SQLite (a check-off runs about 17 of them).
_RUN_HEAD = select(*[c for c in runs.c if c.name not in ("source", "site_snapshot")]).where(
    runs.c.id == bindparam("run_id")
)
_TASK = select(tasks).where(tasks.c.run_id == bindparam("run_id"), tasks.c.id == bindparam("task_id"))
_ANY_TASK = (
    select(tasks.c.pk)
    .where(tasks.c.run_id == bindparam("run_id"), tasks.c.state.in_(bindparam("states", expanding=True)))
    .limit(1)
)
_OUTLINES: dict[tuple[str, tuple[str, ...]], Any] = {}
_AMONG: dict[tuple[tuple[str, ...], int], Any] = {}
_TASK_END = select(tasks.c.ended_at).where(tasks.c.run_id == bindparam("run_id"), tasks.c.id == bindparam("task_id"))
_LAST_SEQ = select(func.max(events.c.seq)).where(events.c.run_id == bindparam("run_id"))
_MET = select(objectives.c.objective_id, objectives.c.met_at).where(objectives.c.run_id == bindparam("run_id"))
_LOCKDOWN = select(lockdowns).where(lockdowns.c.active_site == bindparam("site"))
_INSERT_EVENT = insert(events)
_INSERT_CHECKOFF = insert(checkoffs)
_INSERT_TASKS = insert(tasks).returning(*tasks.c, sort_by_parameter_order=True)
_UPDATES: dict[tuple[tuple[str, ...], int], Any] = {}


def _task_update(columns: tuple[str, ...], expected: int) -> Any:
    """UPDATE tasks SET <columns> WHERE run, id [AND state IN (<expected> states)], cached."""
    key = (columns, expected)
    stmt = _UPDATES.get(key)
    if stmt is None:
        stmt = update(tasks).where(tasks.c.run_id == bindparam("w_run"), tasks.c.id == bindparam("w_id"))
        if expected:
            stmt = stmt.where(tasks.c.state.in_([bindparam(f"w_state{i}") for i in range(expected)]))
        stmt = stmt.values({c: bindparam(c) for c in columns})
        if "state" in columns:  # the step and end of the row, for the counts (store/counts.py)
            stmt = stmt.returning(tasks.c.step_id, tasks.c.ended_at)
        _UPDATES[key] = stmt
    return stmt


def _among(names: tuple[str, ...], limit: int) -> Any:
    """The latest `limit` events of a run with one of `names`, newest first, cached: the latest
    `limit` of each name from the index (run, name, seq), then those rows. One IN over the
    names would walk the run's every event backwards from its last (check-offs make thousands)."""
    stmt = _AMONG.get((names, limit))
    if stmt is None:
        run_id: Any = bindparam("run_id")
        latest = [
            select(events.c.seq)
            .where(events.c.run_id == run_id, events.c.name == name)
            .order_by(events.c.seq.desc())
            .limit(limit)
            .subquery()
            for name in names
        ]
        seqs = union_all(*(select(s.c.seq) for s in latest))
        stmt = (
            select(events)
            .where(events.c.run_id == run_id, events.c.seq.in_(seqs))
            .order_by(events.c.seq.desc())
            .limit(limit)
        )
        _AMONG[(names, limit)] = stmt
    return stmt


def _outline(by: str, keys: tuple[str, ...]) -> Any:
    """SELECT <the task's columns but outputs>, <outputs' `keys`> WHERE run, <by> ORDER BY pk, cached:
    from the kept outline (store/outlines.py) when it holds every key asked."""
    stmt = _OUTLINES.get((by, keys))
    if stmt is None:
        if set(keys) <= set(OUTLINE_KEYS):
            stmt = outline_select(by)
        else:
            columns = [c for c in tasks.c if c.name != "outputs"]
            values = [tasks.c.outputs[k].label(f"outputs_{i}") for i, k in enumerate(keys)]
            stmt = (
                select(*columns, *values)
                .where(tasks.c.run_id == bindparam("run_id"), tasks.c[by] == bindparam("by"))
                .order_by(tasks.c.pk)
                .limit(1)
            )
        _OUTLINES[(by, keys)] = stmt
    return stmt


def _outline_row(r: Any, keys: Sequence[str]) -> dict[str, Any]:
    row = row_of(r)
    if "outline" in row:
        return outline_row(row, keys)
    values = {k: row.pop(f"outputs_{i}") for i, k in enumerate(keys)}
    row["outputs"] = {k: v for k, v in values.items() if v is not None}
    return row


class RunReads(Queries):
    def run(self, run_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(runs).where(runs.c.id == run_id))

    def run_head(self, run_id: str) -> dict[str, Any] | None:
        """A run without its runbook source and site snapshot (the hot path of a check-off)."""
        r = self.conn.execute(_RUN_HEAD, {"run_id": run_id}).first()
        return dict(r._mapping) if r is not None else None

    def runs(
        self, *, states: Sequence[str] | None = None, site_id: str | None = None, lockdown_id: str | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(runs).order_by(runs.c.started_at, runs.c.id)
        if states:
            stmt = stmt.where(runs.c.state.in_(states))
        if site_id:
            stmt = stmt.where(runs.c.site_id == site_id)
        if lockdown_id:
            stmt = stmt.where(runs.c.lockdown_id == lockdown_id)
        return self.fetch_all(stmt)

    def due_tasks(self, run_id: str, now: datetime, kinds: Sequence[str]) -> list[dict[str, Any]]:
        """Ready tasks of `kinds` whose next attempt is due, and open human tasks past their due time."""
        ready = (tasks.c.state == "ready") & (tasks.c.next_attempt_at <= now) & tasks.c.kind.in_(kinds)
        late = tasks.c.state.in_(["waiting"]) & (tasks.c.due_at <= now) & tasks.c.overdue_at.is_(None)
        timer = (tasks.c.state == "waiting") & (tasks.c.timer_at <= now)
        return self.fetch_all(select(tasks).where(tasks.c.run_id == run_id, ready | late | timer).order_by(tasks.c.pk))

    def next_wake(self, run_id: str, kinds: Sequence[str]) -> datetime | None:
        ready = select(func.min(tasks.c.next_attempt_at)).where(
            tasks.c.run_id == run_id, tasks.c.state == "ready", tasks.c.kind.in_(kinds)
        )
        late = select(func.min(tasks.c.due_at)).where(
            tasks.c.run_id == run_id, tasks.c.state == "waiting", tasks.c.overdue_at.is_(None)
        )
        timer = select(func.min(tasks.c.timer_at)).where(tasks.c.run_id == run_id, tasks.c.state == "waiting")
        times = [self.conn.execute(ready).scalar(), self.conn.execute(late).scalar(), self.conn.execute(timer).scalar()]
        times = [t.replace(tzinfo=UTC) if t and t.tzinfo is None else t for t in times]
        return min((t for t in times if t is not None), default=None)

    def active_lockdown(self, site_id: str, drill: bool | None = None) -> dict[str, Any] | None:
        """The site's active lockdown: the real one or the drill (`active_site` "<site>~drill":
        a drill and a real lockdown of one site are separate); either, real first, for None."""
        names = [site_id, drill_site(site_id)] if drill is None else [drill_site(site_id) if drill else site_id]
        for name in names:
            row = self.fetch_one(_LOCKDOWN, {"site": name})
            if row is not None:
                return row
        return None

    def lockdown(self, lockdown_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(lockdowns).where(lockdowns.c.id == lockdown_id))

    def tasks(
        self,
        run_id: str,
        *,
        steps: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        item_key: str | None = None,
    ) -> list[dict[str, Any]]:
        stmt = select(tasks).where(tasks.c.run_id == run_id).order_by(tasks.c.pk)
        if steps is not None:
            stmt = stmt.where(tasks.c.step_id.in_(steps))
        if states is not None:
            stmt = stmt.where(tasks.c.state.in_(states))
        if ids is not None:
            stmt = stmt.where(tasks.c.id.in_(ids))
        if item_key is not None:
            stmt = stmt.where(tasks.c.item_key == item_key)
        return self.fetch_all(stmt)

    def task(self, run_id: str, task_id: str) -> dict[str, Any] | None:
        return self.fetch_one(_TASK, {"run_id": run_id, "task_id": task_id})

    def task_outline(self, run_id: str, task_id: str, keys: Sequence[str]) -> dict[str, Any] | None:
        """A task with only `keys` of its outputs (those it has): a roll call's counts without
        its answer groups, which hold every person asked. The database reads the JSON; Python
        decodes a few small values, not 2,500 roster rows."""
        r = self.conn.execute(_outline("id", tuple(keys)), {"run_id": run_id, "by": task_id}).first()
        return _outline_row(r, keys) if r is not None else None

    def step_outline(self, run_id: str, step_id: str, keys: Sequence[str]) -> dict[str, Any] | None:
        """The first task of a step (by creation), as `task_outline` gives it."""
        r = self.conn.execute(_outline("step_id", tuple(keys)), {"run_id": run_id, "by": step_id}).first()
        return _outline_row(r, keys) if r is not None else None

    def any_task(self, run_id: str, states: Sequence[str]) -> bool:
        """Whether some task of the run is in one of `states` (the first index hit, not a count)."""
        return self.conn.execute(_ANY_TASK, {"run_id": run_id, "states": list(states)}).first() is not None

    def run_steps(self, run_id: str) -> dict[str, dict[str, Any]]:
        return {r["step_id"]: r for r in self.fetch_all(select(run_steps).where(run_steps.c.run_id == run_id))}

    def count_tasks(
        self,
        run_id: str,
        *,
        steps: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        late: bool | None = None,
    ) -> int:
        stmt = select(func.count()).select_from(tasks).where(tasks.c.run_id == run_id)
        if late is not None:
            stmt = stmt.where(tasks.c.late.is_(late))
        if steps is not None:
            stmt = stmt.where(tasks.c.step_id.in_(steps))
        if states is not None:
            stmt = stmt.where(tasks.c.state.in_(states))
        return int(self.conn.execute(stmt).scalar_one())

    def checkoffs(self, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        stmt = select(checkoffs).where(checkoffs.c.run_id == run_id).order_by(checkoffs.c.pk)
        if task_id is not None:
            stmt = stmt.where(checkoffs.c.task_id == task_id)
        return self.fetch_all(stmt)

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(events).where(events.c.run_id == run_id, events.c.seq > after).order_by(events.c.seq).limit(limit)
        )

    def events_named(self, run_id: str, name: str) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(events).where(events.c.run_id == run_id, events.c.name == name).order_by(events.c.seq)
        )

    def events_among(self, run_id: str, names: Sequence[str], limit: int = 200) -> list[dict[str, Any]]:
        """The run's latest `limit` events with one of `names`, oldest first (the timeline)."""
        if not names:
            return []
        rows = self.fetch_all(_among(tuple(names), limit), {"run_id": run_id})
        return rows[::-1]

    def last_event_seq(self, run_id: str) -> int:
        return self.conn.execute(_LAST_SEQ, {"run_id": run_id}).scalar() or 0

    def objectives_met(self, run_id: str) -> dict[str, datetime]:
        return {objective_id: met_at for objective_id, met_at in self.conn.execute(_MET, {"run_id": run_id})}


class RunWrites(RunReads, TaskPageWrites):
    # The task rows this transaction read or wrote (Tx.task): a task just written is not read
    # again. Every write of a task goes through this mixin (or TaskPageWrites, a page of them),
    # which keeps the copy in step. None: the task was found absent.
    _task_rows: dict[tuple[str, str], dict[str, Any] | None]
    _kept: dict[tuple[str, str], Any]  # the run's head and steps as read (Tx._once)
    # Events and check-offs are only ever added: they wait here and are written together, one
    # insert for a group of changes (flush_rows: before the commit and before any read of them).
    _pending_events: list[dict[str, Any]]
    _pending_checkoffs: list[dict[str, Any]]

    def insert_lockdown(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(lockdowns).values(**row))

    def end_lockdown(self, lockdown_id: str, *, at: datetime, by: str) -> None:
        self.conn.execute(
            update(lockdowns).where(lockdowns.c.id == lockdown_id).values(active_site=None, ended_at=at, ended_by=by)
        )

    def insert_run(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(runs).values(**row))

    def update_run(self, run_id: str, **values: Any) -> None:
        """Columns of a run other than its state (flows/states.transition_run writes that)."""
        if "state" in values:
            raise ValueError("a run's state is written by flows.states.transition_run only")
        self._kept.pop(("run", run_id), None)
        self.conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def write_run_state(self, run_id: str, old: str, new: str, **values: Any) -> None:
        self._kept.pop(("run", run_id), None)
        self.conn.execute(update(runs).where(runs.c.id == run_id, runs.c.state == old).values(state=new, **values))

    def insert_run_steps(self, rows: Sequence[Mapping[str, Any]]) -> None:
        for r in rows:
            self._kept.pop(("steps", r["run_id"]), None)
        if rows:
            self.conn.execute(insert(run_steps), [dict(r) for r in rows])

    def update_run_step(self, run_id: str, step_id: str, **values: Any) -> None:
        self._kept.pop(("steps", run_id), None)
        self.conn.execute(
            update(run_steps).where(run_steps.c.run_id == run_id, run_steps.c.step_id == step_id).values(**values)
        )

    def insert_tasks(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """New tasks, kept as the store returns them (Tx.task does not read them again)."""
        for r in rows:
            self.count_task(r["run_id"], r["step_id"], None, r["state"])
        if rows:
            written = self.conn.execute(
                _INSERT_TASKS,
                [
                    {
                        **r,
                        "title": str(r["title"]),
                        "titles": r.get("titles"),
                        "item": json_ready(r.get("item")),
                        "outputs": json_ready(r.get("outputs")),
                    }
                    for r in rows
                ],
            )
            for returned in written:
                row = row_of(returned)
                self._task_rows[(row["run_id"], row["id"])] = row
            self.write_outlines([(r["run_id"], r["id"], json_ready(r.get("outputs")), False) for r in rows])

    def update_task(self, run_id: str, task_id: str, *, expect: Sequence[str] | None = None, **values: Any) -> bool:
        """Update columns of one task other than its state; with `expect`, only if its state is
        one of those. True if it changed. States change through flows/states.transition only."""
        if "state" in values:
            raise ValueError("a task's state is written by flows.states.transition only")
        return self._update_task(run_id, task_id, expect, values)

    def write_task_state(self, run_id: str, task_id: str, expect: Sequence[str], state: str, **values: Any) -> bool:
        return self._update_task(run_id, task_id, expect, {**values, "state": state})

    def _update_task(self, run_id: str, task_id: str, expect: Sequence[str] | None, values: dict[str, Any]) -> bool:
        if "outputs" in values:
            values["outputs"] = json_ready(values["outputs"])
        expected = list(expect) if expect is not None else []
        if "state" in values and len(expected) != 1:
            # The counts need the state it leaves: one expected state per statement.
            if not expected:
                raise ValueError("a state is written only from expected states")
            return any(self._update_task(run_id, task_id, [old], dict(values)) for old in expected)
        leaving_done = None
        if "state" in values and expected[0] == "done" and values["state"] != "done":  # rare: a re-plan
            leaving_done = self.conn.execute(_TASK_END, {"run_id": run_id, "task_id": task_id}).first()
        stmt = _task_update(tuple(sorted(values)), len(expected))
        params = {**values, "w_run": run_id, "w_id": task_id, **{f"w_state{i}": s for i, s in enumerate(expected)}}
        if "title" in params:
            params["title"] = str(params["title"])  # a Texts is its English; `titles` keeps every language
        result = self.conn.execute(stmt, params)
        if "state" in values:
            row = result.first()
            changed = row is not None
            if row is not None:
                self.count_task(run_id, row[0], expected[0], values["state"])
                # The run's head (Tx.run_head: read once a transaction) only when a minute is needed.
                if leaving_done is not None and leaving_done[0] is not None:
                    minute = done_minute_of(self.run_head(run_id), leaving_done[0])
                    self.count_done(run_id, row[0], minute, -1)
                if values["state"] == "done" and expected[0] != "done" and row[1] is not None:
                    minute = done_minute_of(self.run_head(run_id), row[1])
                    self.count_done(run_id, row[0], minute, +1)
        else:
            changed = result.rowcount == 1
        kept = self._task_rows.get((run_id, task_id))
        if changed and "outputs" in values:
            self.write_outlines([(run_id, task_id, values["outputs"], had_outline(kept))])
        if kept is None:
            self._task_rows.pop((run_id, task_id), None)  # found absent before: read it if asked again
        else:
            if changed:  # the row as a read would give it now
                kept.update(as_read(values))
            else:  # changed meanwhile by someone else: read it again next time
                del self._task_rows[(run_id, task_id)]
        return changed

    def insert_checkoff(self, row: Mapping[str, Any]) -> None:
        self._pending_checkoffs.append({"note": None, "reason": None, **row, "fields": json_ready(row.get("fields"))})

    def insert_event(self, row: Mapping[str, Any]) -> None:
        """An event of the run, written with the transaction's others in the order they came
        (their `seq` follows it)."""
        self._pending_events.append(
            {"task_id": None, "run_id": None, "site_id": None, **row, "data": json_ready(row.get("data"))}
        )

    def flush_rows(self) -> None:
        """Write the events and check-offs added so far in this transaction."""
        if self._pending_events:
            rows, self._pending_events = self._pending_events, []
            self.conn.execute(_INSERT_EVENT, rows)
        if self._pending_checkoffs:
            rows, self._pending_checkoffs = self._pending_checkoffs, []
            self.conn.execute(_INSERT_CHECKOFF, rows)

    # Reads inside a writing transaction see what it added.
    def checkoffs(self, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        self.flush_rows()
        return super().checkoffs(run_id, task_id)

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        self.flush_rows()
        return super().events(run_id, after, limit)

    def events_named(self, run_id: str, name: str) -> list[dict[str, Any]]:
        self.flush_rows()
        return super().events_named(run_id, name)

    def events_among(self, run_id: str, names: Sequence[str], limit: int = 200) -> list[dict[str, Any]]:
        self.flush_rows()
        return super().events_among(run_id, names, limit)

    def last_event_seq(self, run_id: str) -> int:
        self.flush_rows()
        return super().last_event_seq(run_id)

    def mark_objective(self, run_id: str, objective_id: str, met_at: datetime) -> None:
        self.conn.execute(
            insert_ignore(self.dialect, objectives).values(run_id=run_id, objective_id=objective_id, met_at=met_at)
        )
