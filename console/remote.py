"""Remote edge: the Engine's interface over the HTTP API, for the CLI with `RUNBOOK_URL` and
`RUNBOOK_TOKEN` set: the same calls, the same JSON shapes, the same errors (mapped back from
the API's error codes), so every command prints the same output on a terminal anywhere.
The actor arguments are ignored: the server knows who the token is."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from flows.errors import Conflict, EngineError, Forbidden, Invalid, NotFound

ERRORS: dict[str, type[EngineError]] = {
    "not_found": NotFound,
    "conflict": Conflict,
    "forbidden": Forbidden,
    "invalid": Invalid,
    "unauthorized": Forbidden,
}


def configured() -> bool:
    return bool(os.environ.get("RUNBOOK_URL"))


class Remote:
    def __init__(self, url: str | None = None, token: str | None = None):
        self.url = (url or os.environ["RUNBOOK_URL"]).rstrip("/")
        token = token or os.environ.get("RUNBOOK_TOKEN")
        if not token:
            raise Invalid("RUNBOOK_URL is set but RUNBOOK_TOKEN is not: ask an admin for a token (runbook users add)")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        # The server gives runbook and site texts in this language (`runbook --lang`, RUNBOOK_LANG).
        from .common import TEXT_LANG

        self.http.headers["Accept-Language"] = TEXT_LANG["lang"]

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            response = self.http.request(method, self.url + path, json=body, params=params, headers=headers, timeout=60)
        except requests.RequestException as e:
            raise Invalid(f"cannot reach {self.url}: {type(e).__name__}") from None
        return self._answer(response)

    def _answer(self, response: requests.Response) -> Any:
        """The JSON of a 2xx; else the API's error as the engine's error."""
        if response.ok:
            return response.json()
        try:
            err = response.json()["error"]
            code, message = err["code"], err["message"]
        except (ValueError, KeyError, TypeError):
            code, message = "invalid", f"HTTP {response.status_code} from {self.url}"
        raise ERRORS.get(code, Invalid)(message)

    @staticmethod
    def _q(value: str) -> str:
        return quote(value, safe="")

    # --- the Engine's interface --------------------------------------------------------------

    def lockdown(self, site_id: str, actor: Any = None, *, drill: bool = False) -> tuple[list[dict[str, Any]], bool]:
        try:
            response = self.http.post(
                f"{self.url}/api/sites/{self._q(site_id)}/lockdown", json={"drill": drill}, timeout=60
            )
        except requests.RequestException as e:
            raise Invalid(f"cannot reach {self.url}: {type(e).__name__}") from None
        return self._answer(response)["runs"], response.status_code == 201

    def standdown(self, site_id: str, actor: Any = None, *, drill: bool | None = None) -> list[dict[str, Any]]:
        body = {"drill": drill} if drill is not None else None
        return self._call("POST", f"/api/sites/{self._q(site_id)}/standdown", body)["runs"]

    def start(
        self,
        runbook: str,
        site: str,
        actor: Any = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        drill: bool = False,
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/api/runs",
            {"runbook": str(runbook), "site": str(site), "inputs": dict(inputs or {}), "drill": drill},
        )

    def run(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/runs/{self._q(run_id)}")

    def runs(self, *, states: Sequence[str] | None = None) -> list[dict[str, Any]]:
        runs = self._call("GET", "/api/runs")["runs"]
        return [r for r in runs if not states or r["state"] in states]

    def tasks(
        self, run_id: str, *, team: str | None = None, state: str | None = None, step: str | None = None
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"team": team, "state": state, "step": step}.items() if v}
        return self._call("GET", f"/api/runs/{self._q(run_id)}/tasks", params=params)["tasks"]

    def _task(self, run_id: str, task_id: str, action: str, body: Mapping[str, Any], key: str | None = None) -> Any:
        return self._call(
            "POST",
            f"/api/runs/{self._q(run_id)}/tasks/{self._q(task_id)}/{action}",
            {k: v for k, v in body.items() if v is not None},
            key=key,
        )

    def complete(
        self,
        run_id: str,
        task_id: str,
        actor: Any = None,
        *,
        note: str | None = None,
        fields: Mapping[str, Any] | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> Any:
        return self._task(
            run_id, task_id, "complete", {"note": note, "fields": dict(fields or {}), "reason": reason}, key
        )

    def approve(
        self,
        run_id: str,
        task_id: str,
        actor: Any = None,
        *,
        note: str | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> Any:
        return self._task(run_id, task_id, "approve", {"note": note, "reason": reason}, key)

    def reject(
        self, run_id: str, task_id: str, actor: Any = None, *, reason: str | None = None, key: str | None = None
    ) -> Any:
        return self._task(run_id, task_id, "reject", {"reason": reason}, key)

    def skip(self, run_id: str, task_id: str, actor: Any = None, *, reason: str | None) -> Any:
        return self._task(run_id, task_id, "skip", {"reason": reason})

    def retry(self, run_id: str, task_id: str, actor: Any = None, *, reason: str | None) -> Any:
        return self._task(run_id, task_id, "retry", {"reason": reason})

    def reassign(self, run_id: str, task_id: str, actor: Any = None, *, reason: str | None, to: str | None) -> Any:
        return self._task(run_id, task_id, "reassign", {"reason": reason, "to": to})

    def add(
        self, run_id: str, actor: Any = None, *, reason: str | None, title: str, owner: str, due: str | None = None
    ) -> Any:
        return self._call(
            "POST",
            f"/api/runs/{self._q(run_id)}/tasks",
            {k: v for k, v in {"title": title, "owner": owner, "reason": reason, "due": due}.items() if v is not None},
        )

    def cancel(self, run_id: str, actor: Any = None, *, reason: str | None) -> dict[str, Any]:
        return self._call("POST", f"/api/runs/{self._q(run_id)}/cancel", {"reason": reason})

    def audit(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/runs/{self._q(run_id)}/audit")

    def outbox(self, *, states: Sequence[str] | None = None, run_id: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"state": states[0] if states else None, "run": run_id}.items() if v}
        return self._call("GET", "/api/outbox", params=params)

    def requeue(self, actor: Any = None, *, keys: Sequence[str] | None = None, reason: str | None = None) -> int:
        return self._call("POST", "/api/outbox/retry", {"ids": list(keys or []), "reason": reason})["requeued"]

    def answer(
        self,
        run_id: str,
        step_id: str,
        person_id: str,
        option: str,
        actor: Any = None,
        *,
        note: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        body = {"person": person_id, "option": option, **({"note": note} if note else {})}
        return self._call("POST", f"/api/runs/{self._q(run_id)}/muster/{self._q(step_id)}/answers", body, key=key)

    def close_muster(
        self, run_id: str, step_id: str, actor: Any = None, *, reason: str | None, key: str | None = None
    ) -> dict[str, Any]:
        path = f"/api/runs/{self._q(run_id)}/muster/{self._q(step_id)}/close"
        return self._call("POST", path, {"reason": reason}, key=key)

    def headcount(self, run_id: str, step_id: str | None = None) -> dict[str, Any]:
        if step_id is None:
            return self._call("GET", f"/api/runs/{self._q(run_id)}/headcount")
        return self._call("GET", f"/api/runs/{self._q(run_id)}/muster/{self._q(step_id)}/headcount")

    def pools(self, site_id: str, *, drill: bool = False) -> dict[str, Any]:
        return self._call("GET", f"/api/sites/{self._q(site_id)}/pools" + ("?drill=true" if drill else ""))

    def restock(
        self,
        site_id: str,
        pool_id: str,
        actor: Any = None,
        *,
        from_site: str | None = None,
        count: int | None = None,
        rows: list[dict[str, str]] | None = None,
        reason: str | None = None,
        drill: bool | None = None,
    ) -> dict[str, Any]:
        if rows is not None:
            raise Invalid("--csv works on the local store only: new items are added where the store is")
        body = {"from_site": from_site, "count": count, "reason": reason, "drill": drill}
        return self._call("POST", f"/api/sites/{self._q(site_id)}/pools/{self._q(pool_id)}/restock", body)

    def coverage(self, site: str, *, queue: str | None = None, hours: int = 72) -> dict[str, Any]:
        if Path(site, "site.yaml").is_file():  # a directory: the server knows the site by its id
            from runbooks.sites import load_site

            site = load_site(site).id
        params = f"?hours={int(hours)}" + (f"&queue={self._q(queue)}" if queue else "")
        return self._call("GET", f"/api/sites/{self._q(site)}/coverage{params}")

    def shifts(self, run_id: str, *, person: str | None = None) -> list[dict[str, Any]]:
        query = f"?person={self._q(person)}" if person else ""
        result: list[dict[str, Any]] = self._call("GET", f"/api/runs/{self._q(run_id)}/shifts{query}")
        return result

    def swap_shift(
        self, run_id: str, shift_id: str, actor: Any = None, *, to: str, reason: str | None, key: str | None = None
    ) -> dict[str, Any]:
        path = f"/api/runs/{self._q(run_id)}/shifts/{self._q(shift_id)}/swap"
        return self._call("POST", path, {"to": to, "reason": reason}, key=key)

    def loans(self, *, site: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/api/loans" + (f"?site={self._q(site)}" if site else ""))
        return result

    def request_loan(self, actor: Any = None, **kw: Any) -> dict[str, Any]:
        body = {**kw, "start": kw["start"].isoformat(), "end": kw["end"].isoformat()}
        return self._call("POST", "/api/loans", body)

    def accept_loan(self, loan_id: str, actor: Any = None, *, force: bool = False, reason: str | None = None) -> Any:
        return self._call("POST", f"/api/loans/{self._q(loan_id)}/accept", {"force": force, "reason": reason})

    def refuse_loan(self, loan_id: str, actor: Any = None, *, reason: str | None = None) -> Any:
        return self._call("POST", f"/api/loans/{self._q(loan_id)}/refuse", {"reason": reason})

    def recall_loan(self, loan_id: str, actor: Any = None, *, reason: str | None = None) -> Any:
        return self._call("POST", f"/api/loans/{self._q(loan_id)}/recall", {"reason": reason})

    def grants(
        self,
        site: str,
        *,
        state: str | None = None,
        system: str | None = None,
        person: str | None = None,
        drill: bool = False,
    ) -> dict[str, Any]:
        given = {"state": state, "system": system, "person": person, "drill": "1" if drill else None}
        params = "&".join(f"{k}={self._q(v)}" for k, v in given.items() if v)
        return self._call("GET", f"/api/sites/{self._q(site)}/grants" + (f"?{params}" if params else ""))

    def site_zone(self, run_id: str) -> str | None:
        """The zone of a run's site (the snapshot is not served; the board names its zone)."""
        return self._call("GET", f"/api/runs/{self._q(run_id)}/board")["site"].get("timezone")

    def site_of(self, run_id: str) -> dict[str, Any]:
        raise Invalid("--as works on the local store only; with RUNBOOK_URL the token says who you are")

    # --- after the event: the report and findings ------------------------------------------------

    def report(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/runs/{self._q(run_id)}/report")

    def add_finding(
        self,
        run_id: str,
        actor: Any = None,
        *,
        observation: str | None,
        recommendation: str | None,
        owner: str | None,
        due: str | None,
        discussion: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "observation": observation,
            "discussion": discussion,
            "recommendation": recommendation,
            "owner": owner,
            "due": due,
        }
        return self._call("POST", f"/api/runs/{self._q(run_id)}/findings", body)

    def close_finding(self, finding_id: str, actor: Any = None, *, reason: str | None) -> dict[str, Any]:
        return self._call("POST", f"/api/findings/{self._q(finding_id)}/close", {"reason": reason})

    def findings(self, site_id: str | None = None, *, open_only: bool = False) -> dict[str, Any]:
        if site_id is None:
            raise Invalid("with RUNBOOK_URL, name the site: runbook findings SITE")
        params = "?open=true" if open_only else ""
        return self._call("GET", f"/api/sites/{self._q(site_id)}/findings{params}")
