"""The revoker: the runner's side of the grant ledger. Each sweep takes the grants that are due —
expired (→ revoking), a review due (→ an approval task for the grant step's owner, or, in a run
that has ended, flagged and told), a revocation queued or retrying — and sends a revocation
as an http step sends (allowlist, `Idempotency-Key` `<run>:<task>:revoke`), then its `verify:`
(a 404 or an empty answer means revoked). A revocation that fails or does not verify retries
with backoff; past the step's retries it is `revoke_failed`, its owner and the managers are told
once, and it is still retried, slower, until it succeeds. A drill's revocations are recorded,
not sent. Every outcome is an audit row of the grant's run."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from . import grant_ledger, signals
from .kinds.automated import env_values
from .runstate import RunState, plan_of
from .session import change_run
from .states import create, task_id_of, transition
from .steps import StepError, StepJob
from .steps import http as http_step
from .store import Store, runbook_home, utcnow

log = logging.getLogger(__name__)
CLAIM_SECONDS = 120  # a sweep holds a grant this long while its requests are in flight
FAILED_EVERY = 60.0  # a revoke_failed grant is tried again this often (seconds, before the time scale)
DEFAULT_RETRIES = 3
VERIFY_OK = [200, 201, 202, 203, 204, 404]  # what a verify may answer; 404 means revoked
REVIEW_STEP = "grant_review"  # the step id of review tasks: not a step of the runbook


def sweep(store: Store, now: datetime | None = None) -> int:
    """One pass over the ledger: what was due, done. How many grants it acted on."""
    now = now or utcnow()
    with store.read() as r:
        due = r.grants_due(now)
    for grant in due:
        try:
            if grant["state"] == "active" and grant["expires_at"] is not None and grant["expires_at"] <= now:
                _in_run(store, grant["run_id"], _expiry(grant))
            elif grant["state"] == "active":
                _review(store, grant)
            else:
                attempt(store, grant)
        except Exception:  # one grant's trouble must not stop the others' revocations
            log.exception("grant %s: the revoker failed to act on it", grant["id"])
    return len(due)


def _in_run(store: Store, run_id: str, change: Callable[[RunState], Any]) -> Any:
    """A ledger change in its run's transaction and audit chain, whatever the run's state (a
    completed lockdown's grants are still revoked at stand-down)."""
    with store.transaction(serial=run_id) as tx:
        tx.lock_chain(run_id)
        tx.notify_run(run_id)
        run = tx.run_head(run_id)
        assert run is not None, f"grant of an unknown run {run_id}"
        rs = RunState(tx, run, plan_of(run, tx), utcnow(), "engine:grants")
        result = change(rs)
    signals.publish(run_id)
    return result


def _expiry(grant: Mapping[str, Any]) -> Callable[[RunState], None]:
    def expire(rs: RunState) -> None:
        if grant_ledger.request_revocation(rs.tx, grant, "expired", rs.now):
            rs.audit("grant.expired", grant["task_id"], actor="engine", grant=grant["id"])

    return expire


# --- reviews ---------------------------------------------------------------------------------


def _review(store: Store, grant: Mapping[str, Any]) -> None:
    def change(rs: RunState) -> None:
        fresh = rs.tx.grant(grant["id"])
        if fresh is None or fresh["state"] != "active" or fresh["review_task"] is not None:
            return
        step = rs.plan.find(fresh["step_id"])
        period = grant_ledger.next_review(fresh, step, rs.now, float(rs.run["time_scale"] or 1))
        person = rs.plan.site.person(str(fresh["person_id"])) or {}
        scope = ", ".join(fresh["scope"] or [])
        tid = task_id_of(REVIEW_STEP, f"{fresh['task_id']}@{fresh['review_at']:%Y%m%dT%H%M%S}")
        row = {
            "run_id": rs.run_id,
            "id": tid,
            "step_id": REVIEW_STEP,
            "item_key": tid.split(":", 1)[1],
            "item": {"grant": fresh["id"], "person": fresh["person_id"]},
            "title": f"Still needed for {person.get('name') or fresh['person_id']}: profile {fresh['profile']}, "
            f"scope [{scope}] on {fresh['system']}",
            "kind": REVIEW_STEP,
            "state": "waiting",
            "owner": fresh["owner"] or "role:manager",
            "adhoc": False,
            "created_at": rs.now,
            "actionable_at": rs.now,
            "due_at": period,  # unreviewed by the next review: overdue and escalated
            "attempt": 0,
            "outputs": {"grant": fresh["id"], "person": fresh["person_id"]},
        }
        create(rs, [row])
        rs.tx.update_grant(fresh["id"], expect=["active"], review_task=tid)
        rs.audit("grant.review_requested", tid, actor="engine", grant=fresh["id"])
        rs.event("approval.requested", tid, owner=row["owner"], title=row["title"])

    if change_run(store, grant["run_id"], "engine:grants", lambda rs: change(rs), if_ended=False) is False:
        # The run has ended: nobody can approve inside it. Flagged on the ledger and told, never extended.
        def flag(rs: RunState) -> None:
            if rs.tx.update_grant(grant["id"], expect=["active"], review_task="-"):
                rs.audit("grant.review_overdue", grant["task_id"], actor="engine", grant=grant["id"])
                grant_ledger.alert(rs, grant, "grant.review_overdue")

        _in_run(store, grant["run_id"], flag)


# --- revocations -----------------------------------------------------------------------------


def attempt(store: Store, grant: Mapping[str, Any]) -> str:
    """One try at revoking a grant (claimed first, so two runners never send it twice at
    once): its new state."""
    now = utcnow()
    with store.transaction(serial=grant["run_id"]) as tx:
        claimed = tx.update_grant(
            grant["id"],
            expect=[grant["state"]],
            due_before=now,
            next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS),
        )
    if not claimed:
        return str(grant["state"])
    error: str | None = None
    verified = False
    try:
        drill, revoke_job, verify_job = _jobs(store, grant)
        if drill:
            return _in_run(store, grant["run_id"], lambda rs: _succeeded(rs, grant, verified=False, drill=True))
        http_step.execute(revoke_job)
        if verify_job is not None:
            answer = http_step.execute(verify_job)
            if not _revoked(answer):
                raise StepError(f"verify: {grant['system']} still lists the grant (status {answer['status']})")
        verified = verify_job is not None
    except StepError as e:
        error = e.message
    except Exception as e:  # a request that cannot even be built (an expression that fails now)
        error = f"{type(e).__name__}: {e}"
    if error is None:
        return _in_run(store, grant["run_id"], lambda rs: _succeeded(rs, grant, verified=verified, drill=False))
    return _in_run(store, grant["run_id"], lambda rs: _failed(rs, grant, str(error)))


def _revoked(answer: Mapping[str, Any]) -> bool:
    """A verify's answer: a 404, no body, or an empty list (also under `grants`) means revoked."""
    if answer.get("status") == 404:
        return True
    body = answer.get("json")
    if body in (None, [], {}):
        return True
    if isinstance(body, Mapping) and "grants" in body:
        return not body["grants"]
    if isinstance(body, Mapping) and "active" in body:
        return body["active"] is False
    return False


def _jobs(store: Store, grant: Mapping[str, Any]) -> tuple[bool, StepJob, StepJob | None]:
    """The revoke and verify requests, rendered now in the grant task's context (+ `env` and
    `grant`): secrets are never stored on the ledger."""
    from runbooks.expressions import render_value

    with store.read() as r:
        run = r.run_head(grant["run_id"])
        assert run is not None, f"grant of an unknown run {grant['run_id']}"
        plan = plan_of(run, r)
        step = plan.step(grant["step_id"])
        task = r.task(grant["run_id"], grant["task_id"])
        rs = RunState(r, run, plan, utcnow(), "engine:grants")  # type: ignore[arg-type]  # reads only
        context = {**rs.context(step, task), "env": dict(os.environ), "grant": grant_ledger.grant_json(grant)}
    secrets = tuple(env_values(step.params["revoke"]) + env_values(step.params.get("verify") or {}))

    def job(kind: str, request: Any, expect: list[int] | None) -> StepJob:
        rendered = dict(render_value(request, context))
        if expect is not None and not rendered.get("expect"):
            rendered["expect"] = expect
        return StepJob(
            run_id=grant["run_id"],
            task_id=grant["task_id"],
            step_id=step.id,
            kind="http",
            item_key=task["item_key"] if task else None,
            params={"with": rendered},
            idempotency_key=f"{grant['run_id']}:{grant['task_id']}:{kind}",
            drill=bool(grant["drill"]),
            send_in_drill=False,
            site={"id": plan.site.id, "lang": plan.site.lang, "channels": plan.site.channels},
            home=runbook_home(),
            secrets=secrets,
        )

    verify = step.params.get("verify")
    return (
        bool(grant["drill"]),
        job("revoke", step.params["revoke"], None),
        job("verify", verify, VERIFY_OK) if verify else None,
    )


def _succeeded(rs: RunState, grant: Mapping[str, Any], *, verified: bool, drill: bool) -> str:
    state = "expired" if grant["reason"] == "expired" else "revoked"
    rs.tx.update_grant(
        grant["id"],
        expect=["revoking", "revoke_failed"],
        state=state,
        attempts=int(grant["attempts"]) + 1,
        revoked_at=rs.now,
        verified_at=rs.now if verified else None,
        next_attempt_at=None,
        last_error=None,
        review_task=None,
    )
    rs.audit(
        "grant.revoked",
        grant["task_id"],
        grant["reason"],
        actor="engine",
        grant=grant["id"],
        verified=verified,
        drill=drill or None,
        attempts=int(grant["attempts"]) + 1,
    )
    _close_review(rs, grant)
    return state


def _failed(rs: RunState, grant: Mapping[str, Any], error: str) -> str:
    step = rs.plan.find(grant["step_id"])
    retries = step.retries if step is not None and step.retries else DEFAULT_RETRIES
    attempts = int(grant["attempts"]) + 1
    scale = float(rs.run["time_scale"] or 1)
    if attempts <= retries and grant["state"] == "revoking":
        delay = min(60.0, 0.5 * 2 ** (attempts - 1)) / scale
        state = "revoking"
    else:
        delay, state = FAILED_EVERY / scale, "revoke_failed"
    rs.tx.update_grant(
        grant["id"],
        expect=[grant["state"]],
        state=state,
        attempts=attempts,
        last_error=error,
        next_attempt_at=rs.now + timedelta(seconds=delay),
    )
    rs.audit("grant.revoke_failed", grant["task_id"], error, actor="engine", grant=grant["id"], attempts=attempts)
    if state == "revoke_failed" and grant["state"] != "revoke_failed":  # told once, when retries run out
        grant_ledger.alert(rs, {**grant, "attempts": attempts, "last_error": error}, "grant.revoke_failed")
    return state


def _close_review(rs: RunState, grant: Mapping[str, Any]) -> None:
    """A revoked grant's open review has nothing left to decide."""
    tid = grant.get("review_task")
    if not tid or tid == "-" or rs.run["state"] != "running":
        return
    task = rs.tx.task(rs.run_id, str(tid))
    if task is not None and task["state"] == "waiting":
        transition(rs, task, "cancelled", by="engine", reason="the grant was revoked")


class Revoker:
    """A thread of `runbook serve`'s runner: a sweep every second, or at once when woken."""

    def __init__(self, store: Store, every: float = 1.0):
        self.store, self.every = store, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Revoker:
        self._thread = threading.Thread(target=self._loop, name="revoker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                sweep(self.store)
            except Exception:  # the store may be briefly unreachable: keep trying
                log.exception("revoker: sweep failed")
