"""`grant` (a runbook step, executed by the runner: flows/steps/grant.py sends its `with:`
request) and `grant_review` (the engine's approval task re-certifying a grant every `review`
period). A grant item's success puts a row on the ledger (flows/grant_ledger.py); its
`revoke:` and `verify:` requests are rendered only when a revocation is sent (flows/revoker.py),
so they may name the grant (`${{ grant.iam_id }}`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from runbooks.plan import PlannedStep

from .. import grant_ledger
from ..actors import Actor
from ..runview import RunView
from .automated import env_values
from .base import StepKind

LATER = ("revoke", "verify")  # rendered at revocation time, not when the grant is sent


class Grant(StepKind):
    name = "grant"
    runs = True

    def job_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in params.items() if k not in LATER}

    def job_context(self, step: PlannedStep, context: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        return {**context, "env": dict(os.environ)}, env_values(step.params["with"])

    def on_done(self, rs: RunView, step: PlannedStep, task: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        grant_ledger.record(rs, step, task, outputs)


class GrantReview(StepKind):
    name = "grant_review"
    decides = True

    def on_decided(
        self, rs: RunView, task: Mapping[str, Any], approved: bool, actor: Actor, reason: str | None
    ) -> None:
        grant = rs.tx.grant(str((task.get("item") or {}).get("grant")))
        if grant is None or grant["state"] != "active":
            return
        if approved:
            step = rs.plan.find(grant["step_id"])
            rs.tx.update_grant(
                grant["id"],
                expect=["active"],
                review_task=None,
                reviewed_at=rs.now,
                review_at=grant_ledger.next_review(grant, step, rs.now, float(rs.run["time_scale"] or 1)),
            )
            rs.audit("grant.reviewed", task["id"], actor=actor.label, grant=grant["id"], decision="keep")
        else:
            rs.tx.update_grant(grant["id"], expect=["active"], reviewed_at=rs.now)
            grant_ledger.revoke(rs, [grant], f"review rejected by {actor.identity}: {reason}")
            rs.audit("grant.reviewed", task["id"], reason, actor=actor.label, grant=grant["id"], decision="revoke")

    def on_due(self, rs: RunView, task: Mapping[str, Any]) -> bool:
        """Unreviewed by the next review: flagged overdue (the generic way) and escalated to the
        managers; the grant is never extended by the silence."""
        grant = rs.tx.grant(str((task.get("item") or {}).get("grant")))
        if grant is not None and grant["state"] == "active":
            rs.audit("grant.review_overdue", task["id"], actor="engine", grant=grant["id"])
            grant_ledger.alert(rs, grant, "grant.review_overdue")
        return False


GRANT = Grant()
REVIEW = GrantReview()
