"""API edge: HTTP requests → the Engine → JSON. This first version serves health; the REST
API of DESIGN.md §6 grows here."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def create_app(store, runner=None, prefect_url: str | None = None) -> FastAPI:
    app = FastAPI(title="Continuity runbook engine", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        with store.read() as r:
            r.runs(states=["running"])  # the store answers
        return {"status": "ok", "store": store.dialect, "runner": runner is not None,
                "runs_owned": len(runner.owned) if runner else 0, "prefect_api": prefect_url}

    return app
