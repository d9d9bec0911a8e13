"""The board's reads against what they replace (flows/store/board.py, counts.py, runs.py): an
objective's buckets added up by the database are those Python made of the kept minutes, the
timeline's latest events per name are the latest of the run's events with those names, a
task's outline is the task with a part of its outputs. On SQLite and PostgreSQL."""

from __future__ import annotations

import random

from sqlalchemy import func, select

from flows.store.board import buckets_of
from flows.store.counts import answered_key
from flows.store.schema import events, tasks

ROLL = """id: roll_board
name: Roll call and laptops
objectives:
  - {id: accounted, name: Staff accounted for, ratio: roll, target: 0.9, within: 4h}
  - {id: laptops, name: Laptops, count: laptop, target: 3, within: 4h}
steps:
  - id: roll
    kind: muster
    owner: team:operations
    audience: "${{ site.staff }}"
    question: "Where can you work?"
    options: {onsite: On site, home: From home}
  - {id: laptop, kind: manual, for_each: "${{ steps.roll.answers.home }}", as: agent, owner: team:it,
     name: "Laptop for ${{ agent.name }}"}
"""
TIMELINE = ("run.started", "muster.answer", "task.done", "objective.reached", "run.update")


def _started(engine, operator, write_runbook) -> str:
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    for person in ("L0001", "L0002", "L0003"):
        engine.answer(run, "roll", person, "home", operator, via="lead")
    engine.answer(run, "roll", "L0010", "onsite", operator, via="lead")
    for task in engine.tasks(run, step="laptop")[:2]:
        engine.complete(run, task["id"], operator)
    return str(run)


def _python_buckets(minutes, origin: float, bucket_s: float, time_scale: float) -> list[tuple[int, int]]:
    """The buckets as progress_buckets counted them in Python before the database did."""
    buckets: dict[int, int] = {}
    for minute, n in minutes:
        b = max(int((minute * 60 / time_scale - origin) / bucket_s), 0)
        buckets[b] = buckets.get(b, 0) + n
    return sorted(buckets.items())


def test_the_database_adds_up_an_objectives_minutes_into_the_buckets_python_did(engine, operator, store, write_runbook):
    run = _started(engine, operator, write_runbook)
    rng = random.Random(25)
    with store.read() as r:
        for key in ("laptop", answered_key("roll")):
            minutes = r.done_minutes(run, key)
            assert minutes, key
            first = minutes[0][0]
            for _ in range(300):
                time_scale = rng.choice([1.0, 60.0, 3600.0, 7200.0, rng.uniform(0.1, 10_000)])
                bucket_s = rng.choice([0.001, 1.0, 60.0, rng.uniform(0.001, 7200)])
                at = first * 60 / time_scale  # a minute's start, in the seconds the buckets count
                # the origin on a boundary, either side of one, or anywhere around the minutes
                origin = rng.choice([at, at - bucket_s * rng.randint(0, 5), at + rng.uniform(-600, 600)])
                ours = r.done_buckets(run, key, origin, bucket_s, time_scale)
                assert ours == _python_buckets(minutes, origin, bucket_s, time_scale), (time_scale, bucket_s, origin)
                assert buckets_of(minutes, origin, bucket_s, time_scale) == ours  # a kept series's buckets


def test_a_writer_adds_its_own_minutes_before_the_database_adds_them_up(engine, operator, store, write_runbook):
    run = _started(engine, operator, write_runbook)
    with store.read() as r:
        minutes = r.done_minutes(run, "laptop")
    origin, bucket_s = minutes[0][0] * 60 - 60.0, 30.0
    with store.transaction(serial=run) as tx:
        tx.count_done(run, "laptop", minutes[0][0], +1)  # not written yet
        assert tx.done_buckets(run, "laptop", origin, bucket_s, 1.0) == _python_buckets(
            [(minutes[0][0], minutes[0][1] + 1)], origin, bucket_s, 1.0
        )
        tx.count_done(run, "laptop", minutes[0][0], -1)  # and taken back: the kept rows stay true


def test_the_timeline_is_the_latest_events_of_the_names_asked(engine, operator, store, write_runbook):
    run = _started(engine, operator, write_runbook)
    engine.update(run, operator, text="laptops on their way")
    with store.read() as r:
        rows = r.conn.execute(
            select(events.c.seq, events.c.name).where(events.c.run_id == run).order_by(events.c.seq)
        ).all()
        for names in (TIMELINE, ("task.done",), ("muster.answer", "run.update"), ("no.such",)):
            for limit in (1, 2, 3, 200):
                expected = [seq for seq, name in rows if name in names][-limit:]
                among = r.events_among(run, names, limit)
                assert [e["seq"] for e in among] == expected, (names, limit)
        full = r.events_among(run, TIMELINE)
        assert [e["data"] for e in full] == [e["data"] for e in r.events_among(run, TIMELINE, 1000)]


def test_a_tasks_outline_is_the_task_with_only_the_outputs_asked(engine, operator, store, write_runbook):
    run = _started(engine, operator, write_runbook)
    for person in ("L0011", "L0020"):  # everyone answered: the roll call is done, its groups written
        engine.answer(run, "roll", person, "onsite", operator, via="lead")
    with store.read() as r:
        task = r.task(run, "roll")
        assert task is not None and task["outputs"]["answers"]["home"], "a done roll call's outputs hold its groups"
        keys = ("accounted", "asked", "counts", "closed")
        outline = r.task_outline(run, "roll", keys)
        assert outline == {**task, "outputs": {k: v for k, v in task["outputs"].items() if k in keys}}
        assert r.step_outline(run, "roll", keys) == outline
        laptop = r.tasks(run, steps=["laptop"])[0]
        assert r.step_outline(run, "laptop", ("by",)) == {
            **laptop,
            "outputs": {k: v for k, v in (laptop["outputs"] or {}).items() if k == "by"},
        }
        assert r.task_outline(run, "nothing", keys) is None


def test_a_roll_calls_kept_series_counts_the_next_answer_at_the_next_read(engine, operator, store, write_runbook):
    """The first answers per bucket are kept with the newest answer they were read after: the
    board's burn-up of a ratio objective sees an answer given since, and a writer's own
    uncommitted answers are never kept."""
    run = _started(engine, operator, write_runbook)

    def series() -> list:
        return [o["series"] for o in engine.compute_board(run)["objectives"] if o["id"] == "accounted"][0]

    def answered(s: list) -> float:
        return s[-1][1]

    before = series()
    assert series() == before  # kept: read again from the kept buckets
    engine.answer(run, "roll", "L0011", "onsite", operator, via="lead")
    after = series()
    assert answered(after) > answered(before)
    with store.read() as r:
        asked = r.task_outline(run, "roll", ("asked",))["outputs"]["asked"]
    assert round(answered(after) * asked) == 5  # L0001–L0003, L0010 and L0011
    engine.answer(run, "roll", "L0011", "home", operator, via="lead")  # a changed answer: not a first one
    assert answered(series()) == answered(after)
    with store.transaction(serial=run) as tx:
        row = tx.run_head(run)
        tx.count_done(run, answered_key("roll"), 0, +1)  # a writer's own, not committed
        start = row["started_at"]
        scale = float(row["time_scale"] or 1)
        kept = tx.progress_buckets(run, "roll", start, 60.0, answers=True, time_scale=scale)
        assert sum(n for _, n in kept) == 6
        tx.count_done(run, answered_key("roll"), 0, -1)
    with store.read() as r:
        row = r.run_head(run)
        scale = float(row["time_scale"] or 1)
        read = r.progress_buckets(run, "roll", row["started_at"], 60.0, answers=True, time_scale=scale)
        assert sum(n for _, n in read) == 5


def test_the_earliest_actionable_times_are_those_of_every_active_task_grouped(engine, operator, store, write_runbook):
    run = _started(engine, operator, write_runbook)
    engine.answer(run, "roll", "L0011", "home", operator, via="lead")
    grouped = (
        select(tasks.c.step_id, tasks.c.state, func.min(tasks.c.actionable_at))
        .where(tasks.c.run_id == run, tasks.c.state.in_(("waiting", "ready", "running")))
        .group_by(tasks.c.step_id, tasks.c.state)
    )
    with store.read() as r:
        expected = {(step, state): at for step, state, at in r.conn.execute(grouped)}
        stats = r.step_stats(run)
    assert expected and all(at is not None for at in expected.values())
    ours = {(step, state): at for step, states in stats.items() for state, (_, at) in states.items() if at is not None}
    assert ours == expected
    assert stats["laptop"]["done"] == (2, None)  # ended states: counted, no time


def test_the_kept_outline_holds_every_kinds_live_keys_and_follows_the_outputs(engine, operator, store, write_runbook):
    """The outline kept beside a task's outputs (store/outlines.py) has every key a kind's live
    ratio reads and the headcount's `closed`, and changes with each write of the outputs."""
    from flows.kinds import LIVE_KEYS
    from flows.store.outlines import OUTLINE_KEYS

    assert set(LIVE_KEYS) | {"asked", "closed"} <= set(OUTLINE_KEYS)
    run = _started(engine, operator, write_runbook)
    keys = ("accounted", "asked", "closed", "counts")

    def outline() -> dict:
        with store.read() as r:
            return r.task_outline(run, "roll", keys)["outputs"]

    def outputs() -> dict:
        with store.read() as r:
            return {k: v for k, v in (r.task(run, "roll")["outputs"] or {}).items() if k in keys}

    assert outline() == outputs() and outline()["counts"]
    engine.answer(run, "roll", "L0011", "onsite", operator, via="lead")
    assert outline() == outputs()
    engine.close_muster(run, "roll", operator, reason="everyone called")
    assert outline() == outputs() and outline()["closed"]
    with store.transaction(serial=run) as tx:  # outputs without any outline key: none kept
        tx.update_task(run, "roll", outputs={"note": "x"})
    assert outline() == {} == outputs()
