"""The grant ledger, as the Engine's part: a site's grants (filtered by state, system, person;
a drill's ledger apart from the real one), with counts by state."""

from __future__ import annotations

from typing import Any

from . import grant_ledger, rules
from .errors import Invalid
from .store import Store, utcnow


class GrantOps:
    def __init__(self, store: Store):
        self.store = store

    def grants(
        self,
        site_id: str,
        *,
        state: str | None = None,
        system: str | None = None,
        person: str | None = None,
        drill: bool = False,
    ) -> dict[str, Any]:
        """`{site, site_name, timezone, drill, counts: {state: n}, grants: [...]}`: the real ledger, or with `drill`
        the drills' (never the two mixed)."""
        site = rules.site_named(site_id, allow_path=False)
        if state is not None and state not in grant_ledger.STATES:
            raise Invalid(f'unknown grant state "{state}" (states: {", ".join(grant_ledger.STATES)})')
        now = utcnow()
        with self.store.read() as r:
            every = r.grants(site_id=site.id, drill=drill)
        counts = {s: 0 for s in grant_ledger.STATES}
        for g in every:
            counts[g["state"]] = counts.get(g["state"], 0) + 1
        shown = [
            g
            for g in every
            if (state is None or g["state"] == state)
            and (system is None or g["system"] == system)
            and (person is None or g["person_id"] == person)
        ]
        names = {p["id"]: p["name"] for p in site.staff}
        return {
            "site": site.id,
            "site_name": site.name,
            "timezone": site.timezone,
            "drill": drill,
            "counts": counts,
            "grants": [{**grant_ledger.grant_json(g, now), "name": names.get(g["person_id"] or "")} for g in shown],
        }

    def grants_of(self, run_id: str, person_id: str) -> list[dict[str, Any]]:
        """A person's grants in a run (their page)."""
        now = utcnow()
        with self.store.read() as r:
            return [grant_ledger.grant_json(g, now) for g in r.grants(run_id=run_id, person_id=person_id)]
