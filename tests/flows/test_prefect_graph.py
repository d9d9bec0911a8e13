"""The edges the mirror gives Prefect, without a server: per-item needs point to the same item,
all-items needs to every item present — items of late roll-call answers excepted, since the
need does not wait for them."""

from __future__ import annotations

from types import SimpleNamespace

from flows.prefect_mirror import upstream_of


def plan_of_steps(**needs: tuple[tuple[str, ...], tuple[str, ...]]) -> SimpleNamespace:
    steps = {sid: SimpleNamespace(id=sid, item_needs=i, all_needs=a) for sid, (i, a) in needs.items()}
    return SimpleNamespace(find=steps.get)


def row(task_id: str, late: bool = False) -> dict:
    step, _, item = task_id.partition(":")
    return {"id": task_id, "step_id": step, "item_key": item or None, "late": late}


def test_an_all_items_need_points_to_every_item_but_the_late_ones_and_a_per_item_need_to_its_own():
    plan = plan_of_steps(laptop=((), ()), setup=(("laptop",), ()), report=((), ("laptop",)))
    rows = [row("laptop:A"), row("laptop:B"), row("laptop:C", late=True), row("setup:A"), row("setup:C"), row("report")]
    assert upstream_of(plan, rows) == {
        "laptop:A": [],
        "laptop:B": [],
        "laptop:C": [],
        "setup:A": ["laptop:A"],
        "setup:C": ["laptop:C"],  # its own pipeline still follows its laptop
        "report": ["laptop:A", "laptop:B"],
    }


def test_items_that_appear_later_join_the_all_items_edges():
    plan = plan_of_steps(laptop=((), ()), report=((), ("laptop",)))
    before = upstream_of(plan, [row("report"), row("laptop:A")])["report"]
    after = upstream_of(plan, [row("report"), row("laptop:A"), row("laptop:B")])["report"]
    assert (before, after) == (["laptop:A"], ["laptop:A", "laptop:B"])
