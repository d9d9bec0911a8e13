"""Welfare check-ins, as the Engine's part: a person's check-in page by its token, their
answers (a change of the run: flags become living-support tasks), and a step's rounds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import checkins
from .errors import NotFound
from .runstate import RunState, plan_of
from .session import change_run
from .store import Store, utcnow
from .views import iso


class CheckinOps:
    def __init__(self, store: Store):
        self.store = store

    def checkin_page(self, token: str) -> dict[str, Any] | None:
        with self.store.read() as r:
            row = r.checkin(token)
            if row is None:
                return None
            run = r.run_head(row["run_id"])
            assert run is not None
            plan = plan_of(run, r)
            rs = RunState(r, run, plan, utcnow(), "link")  # type: ignore[arg-type]  # reads only
            return checkins.page(rs, plan.step(row["step_id"]), row)

    def answer_checkin(self, token: str, answers: Mapping[str, str]) -> dict[str, Any]:
        with self.store.read() as r:
            row = r.checkin(token)
        if row is None:
            raise NotFound("this check-in link is not known")

        def change(rs: RunState) -> Any:
            fresh = rs.tx.checkin(token)
            assert fresh is not None
            opened = checkins.answer(rs, rs.plan.step(fresh["step_id"]), fresh, answers)
            return lambda rs: {"round": fresh["round"], "flags": opened}

        result: dict[str, Any] = change_run(self.store, row["run_id"], f"link:{row['person_id']}", change)
        return result

    def checkins(self, run_id: str, step_id: str) -> list[dict[str, Any]]:
        """A step's rounds: `[{person, round, opened_at, closes_at, reminded_at, missed_at, answered_at, answers}]`."""
        with self.store.read() as r:
            rows = r.checkins_of(run_id, step_id)
        return [
            {
                "person": x["person_id"],
                "round": x["round"],
                **{k: iso(x[k]) for k in ("opened_at", "closes_at", "reminded_at", "missed_at", "answered_at")},
                "answers": x["answers"],
            }
            for x in rows
        ]
