"""Store fixtures: every store test runs on SQLite (a temporary RUNBOOK_HOME) and on the
PostgreSQL of this machine (see pg_url in tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import text

from tests.conftest import LAB as HERE  # noqa: F401  (tests import HERE from here)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def store(request, lab_env):
    from flows.store import Store, metadata

    if request.param == "sqlite":
        s = Store()
    else:
        # Asked for here, not in the signature: the SQLite variant must not need PostgreSQL.
        s = Store(request.getfixturevalue("pg_url"))
        with s.engine.begin() as conn:  # each test starts empty
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " CASCADE"))
    yield s
    try:
        assert_counts_kept(s)
    finally:
        s.dispose()


def assert_counts_kept(store) -> None:
    """The kept task counts (flows/store/counts.py) agree with the task rows: checked after every
    store test, so a task write that bypasses them fails the test that made it."""
    with store.engine.connect() as conn:
        counted = {
            (r, s, st): n
            for r, s, st, n in conn.execute(
                text("SELECT run_id, step_id, state, count(*) FROM tasks GROUP BY run_id, step_id, state")
            )
        }
        kept = {
            (r, s, st): n
            for r, s, st, n in conn.execute(text("SELECT run_id, step_id, state, n FROM task_counts WHERE n != 0"))
        }
    assert kept == counted, "task_counts drifted from the task rows"
    assert_done_minutes_kept(store)
    assert_outlines_kept(store)


def assert_outlines_kept(store) -> None:
    """Each task's kept outline (flows/store/outlines.py) is its outputs' outline keys: a write of
    outputs that bypasses the outline (a page of the runner's results included) fails the test."""
    from sqlalchemy import select

    from flows.store.outlines import outline_of
    from flows.store.schema import task_outlines, tasks

    with store.read() as r:
        want = {
            (run, task): outline
            for run, task, outputs in r.conn.execute(select(tasks.c.run_id, tasks.c.id, tasks.c.outputs))
            if (outline := outline_of(outputs))
        }
        kept = {(run, task): o for run, task, o in r.conn.execute(select(task_outlines))}
    assert kept == want, "task_outlines drifted from the tasks' outputs"


def assert_done_minutes_kept(store) -> None:
    """The kept tasks done per minute of run time (the objectives' burn-up) agree with the done
    task rows' end times, and the roll calls' first answers per minute with the answer rows."""
    from sqlalchemy import func, select

    from flows.store import done_minute
    from flows.store.counts import answered_key
    from flows.store.schema import muster_answers, runs, task_done_minutes, tasks

    with store.read() as r:
        done = r.conn.execute(
            select(tasks.c.run_id, tasks.c.step_id, tasks.c.ended_at, runs.c.time_scale)
            .select_from(tasks.join(runs, runs.c.id == tasks.c.run_id))
            .where(tasks.c.state == "done")
        ).all()
        first = (
            select(muster_answers.c.run_id, muster_answers.c.step_id, func.min(muster_answers.c.at), runs.c.time_scale)
            .select_from(muster_answers.join(runs, runs.c.id == muster_answers.c.run_id))
            .group_by(muster_answers.c.run_id, muster_answers.c.step_id, muster_answers.c.person_id, runs.c.time_scale)
        )
        answered = [(run, answered_key(step), at, scale) for run, step, at, scale in r.conn.execute(first)]
        kept = {
            (run, step, m): n
            for run, step, m, n in r.conn.execute(select(task_done_minutes).where(task_done_minutes.c.n != 0))
        }
    counted: dict = {}
    for run, step, ended, scale in [*done, *answered]:
        key = (run, step, done_minute(ended.replace(tzinfo=UTC) if ended.tzinfo is None else ended, scale))
        counted[key] = counted.get(key, 0) + 1
    assert kept == counted, "task_done_minutes drifted from the done task rows"


@pytest.fixture
def engine(store):
    from flows.lifecycle import Engine

    return Engine(store)


@pytest.fixture
def forecaster(store):
    """The background forecaster of a serving process (flows/forecaster.py), on this store."""
    from flows.forecaster import Forecaster

    f = Forecaster(store).start()
    yield f
    f.stop()
