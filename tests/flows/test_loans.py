"""Agents lent between sites: Xi'an's manager requests, Beijing's accepts, both coverages move
(lent_out at Beijing, lent_in at Xi'an) in every interval of [start, end); a loan that would
leave Beijing short is refused naming the interval, then forced with a reason; a recall; a drill
loan leaving Beijing's real coverage unchanged; a manager tied to xian refused on beijing; bad
requests refused saying why. Every decision on both sites' audit chains."""

from __future__ import annotations

import datetime as dt

import pytest

from flows.actors import Actor
from flows.errors import Conflict, Forbidden, Invalid

XIAN_MANAGER = Actor("lena", "manager", sites=frozenset({"xian"}))
BEIJING_MANAGER = Actor("wei", "manager", sites=frozenset({"beijing"}))


@pytest.fixture
def window():
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = now + dt.timedelta(hours=2)
    return start, start + dt.timedelta(hours=4)


def rows_in(engine, site: str, start: dt.datetime, end: dt.datetime) -> list[dict]:
    rows = engine.coverage(site, queue="hotline", hours=12)["intervals"]
    return [r for r in rows if start <= dt.datetime.fromisoformat(r["start"].replace("Z", "+00:00")) < end]


def ask(engine, window, agents: int, actor: Actor = XIAN_MANAGER) -> dict:
    start, end = window
    return engine.request_loan(
        actor,
        from_site="beijing",
        to_site="xian",
        queue="hotline",
        agents=agents,
        start=start,
        end=end,
        reason="home agents not live yet",
    )


def test_a_loan_requested_and_accepted_moves_both_coverages_and_is_on_both_chains(engine, operator, store, window):
    engine.lockdown("xian", operator)
    start, end = window
    before_bj, before_xa = rows_in(engine, "beijing", start, end), rows_in(engine, "xian", start, end)
    assert before_bj and all(r["staffed"]["total"] - r["required"] == 2 for r in before_bj), "Beijing's slack: 2"
    loan = ask(engine, window, 2)
    assert loan["state"] == "requested" and loan["drill"] is False
    with pytest.raises(Forbidden, match="manages xian, not beijing"):
        engine.accept_loan(loan["id"], XIAN_MANAGER)
    accepted = engine.accept_loan(loan["id"], BEIJING_MANAGER)
    assert accepted["state"] == "active" and accepted["forced"] is False
    after_bj, after_xa = rows_in(engine, "beijing", start, end), rows_in(engine, "xian", start, end)
    assert [r["staffed"]["lent_out"] for r in after_bj] == [2] * len(before_bj)
    assert [r["staffed"]["total"] for r in after_bj] == [r["staffed"]["total"] - 2 for r in before_bj]
    assert [r["staffed"]["lent_in"] for r in after_xa] == [2] * len(before_xa)
    assert [r["staffed"]["total"] for r in after_xa] == [r["staffed"]["total"] + 2 for r in before_xa]
    outside = engine.coverage("beijing", queue="hotline", hours=12)["intervals"][0]
    assert outside["staffed"]["lent_out"] == 0, "only inside [start, end)"
    assert [x["direction"] for x in engine.coverage("xian", queue="hotline")["loans"]] == ["in"]
    assert [x["direction"] for x in engine.coverage("beijing", queue="hotline")["loans"]] == ["out"]
    # One more agent would leave Beijing short: refused naming the interval, then forced with a reason.
    more = ask(engine, window, 1)
    with pytest.raises(
        Conflict, match=r'leave "beijing" short in \w{3} \d\d:\d\d–\d\d:\d\d: \d+ staffed, \d+ required'
    ):
        engine.accept_loan(more["id"], BEIJING_MANAGER)
    with pytest.raises(Invalid, match="reason"):
        engine.accept_loan(more["id"], BEIJING_MANAGER, force=True)
    forced = engine.accept_loan(more["id"], BEIJING_MANAGER, force=True, reason="Xi'an's hotline comes first")
    assert forced["state"] == "active" and forced["forced"] is True
    assert all(r["staffed"]["lent_out"] == 3 and r["gap"] == 1 for r in rows_in(engine, "beijing", start, end))
    # Either side recalls it early, with a reason: nobody is lent from then.
    with pytest.raises(Invalid, match="reason"):
        engine.recall_loan(forced["id"], XIAN_MANAGER, reason=None)
    recalled = engine.recall_loan(forced["id"], XIAN_MANAGER, reason="agents came live")
    assert recalled["state"] == "recalled"
    assert all(r["staffed"]["lent_out"] == 2 for r in rows_in(engine, "beijing", start, end))
    with pytest.raises(Conflict):
        engine.recall_loan(forced["id"], BEIJING_MANAGER, reason="again")
    with store.read() as r:
        for chain in ("site:beijing", "site:xian"):
            actions = [(e["action"], e["actor"]) for e in r.audit(chain)]
            assert ("loan.request", "lena") in actions and ("loan.accept", "wei") in actions
            assert ("loan.recall", "lena") in actions
    checked = engine.verify_all()
    assert checked["verified"] and {"site:beijing", "site:xian"} <= {c["chain"] for c in checked["chains"]}


def test_a_refused_loan_moves_nothing(engine, operator, window):
    engine.lockdown("xian", operator)
    loan = ask(engine, window, 2)
    with pytest.raises(Invalid, match="reason"):
        engine.refuse_loan(loan["id"], BEIJING_MANAGER, reason="")
    assert engine.refuse_loan(loan["id"], BEIJING_MANAGER, reason="we are short too")["state"] == "refused"
    assert all(r["staffed"]["lent_out"] == 0 for r in rows_in(engine, "beijing", *window))
    with pytest.raises(Conflict):
        engine.accept_loan(loan["id"], BEIJING_MANAGER)


def test_a_drill_loan_is_shown_as_drill_and_leaves_beijings_real_coverage_unchanged(engine, operator, window):
    engine.lockdown("xian", operator, drill=True)
    start, end = window
    before = rows_in(engine, "beijing", start, end)
    loan = ask(engine, window, 2)
    assert loan["drill"] is True
    engine.accept_loan(loan["id"], BEIJING_MANAGER)
    assert rows_in(engine, "beijing", start, end) == before
    assert [x["drill"] for x in engine.coverage("beijing", queue="hotline")["loans"]] == [True]
    xian = rows_in(engine, "xian", start, end)
    assert all(r["staffed"]["lent_in"] == 2 for r in xian), "the drill's own world counts it"


def test_bad_loan_requests_are_refused_saying_why(engine, operator, window):
    start, end = window
    with pytest.raises(Conflict, match="not in lockdown"):
        ask(engine, window, 2)
    engine.lockdown("xian", operator)
    with pytest.raises(Forbidden, match="manages xian, not beijing"):
        engine.request_loan(
            XIAN_MANAGER,
            from_site="xian",
            to_site="beijing",
            queue="hotline",
            agents=1,
            start=start,
            end=end,
            reason="x",
        )
    cases = [
        ({"queue": "expert_support"}, 'site "beijing" has no queue "expert_support"'),
        ({"end": start + dt.timedelta(days=20)}, "longer than the lockdown"),
        ({"start": start - dt.timedelta(days=2)}, "longer than the lockdown"),
        ({"end": start - dt.timedelta(hours=1)}, "ends .* before it starts"),
        ({"agents": 0}, "agents must be from 1"),
        ({"reason": " "}, "needs a reason"),
    ]
    for change, message in cases:
        args = {
            "from_site": "beijing",
            "to_site": "xian",
            "queue": "hotline",
            "agents": 1,
            "start": start,
            "end": end,
            "reason": "cover",
            **change,
        }
        with pytest.raises(Invalid, match=message):
            engine.request_loan(XIAN_MANAGER, **args)


def test_a_manager_tied_to_xian_acts_on_xian_only(engine, operator):
    runs, _ = engine.lockdown("xian", XIAN_MANAGER)
    assert runs and all(r["site"] == "xian" for r in runs)
    with pytest.raises(Forbidden, match="manages xian, not beijing"):
        engine.lockdown("beijing", XIAN_MANAGER)
    with pytest.raises(Forbidden, match="manages xian, not beijing"):
        engine.start("datacenter_failover", "beijing", XIAN_MANAGER)
    beijing_run = engine.start("datacenter_failover", "beijing", operator)["id"]
    with pytest.raises(Forbidden, match="manages xian, not beijing"):
        engine.cancel(beijing_run, XIAN_MANAGER, reason="not mine")
    task = engine.tasks(beijing_run)[0]["id"]
    with pytest.raises(Forbidden):
        engine.skip(beijing_run, task, XIAN_MANAGER, reason="not mine")
    assert engine.run(beijing_run)["state"] == "running"
    assert engine.cancel(beijing_run, BEIJING_MANAGER, reason="drill over")["state"] == "cancelled"
