"""A roll call's headcount, read from its links and answers: who was asked, who answered what
(and how many after due), by team with its leads, and the named list of those with no answer
(not those who answered "cannot work": they are accounted for). Also who is missing by team,
for call lists. Reading only; one pass over the links and one over the current answers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runbooks.sites import Site

from . import notify
from .store import Reader


def unanswered_by_team(reader: Reader, run_id: str, step_id: str, site: Site) -> dict[str, list[dict[str, Any]]]:
    """Who has not answered, by team: what each team's leads get to call through. `reachable`
    is False for a person no personal channel reaches (no link could be sent to them)."""
    answered = reader.current_answers(run_id, step_id)
    people = site.people
    teams: dict[str, list[dict[str, Any]]] = {}
    for person_id in reader.muster_asked(run_id, step_id):
        person = people.get(person_id)
        if person is not None and person_id not in answered:
            teams.setdefault(person["team"], []).append(
                {
                    "id": person["id"],
                    "name": person["name"],
                    "phone": person.get("phone") or "",
                    "reachable": notify.personal_route(site, person) is not None,
                }
            )
    return teams


def headcount(
    reader: Reader, run_id: str, step_id: str, options: Mapping[str, str], site: Site, due: datetime | None
) -> dict[str, Any]:
    people = site.people
    asked = [people[p] for p in reader.muster_asked(run_id, step_id) if p in people]
    current = reader.current_answers(run_id, step_id)
    totals = {key: 0 for key in options}
    by_team: dict[str, dict[str, Any]] = {}
    unaccounted = []
    late = 0
    for person in asked:
        team = by_team.get(person["team"])
        if team is None:
            leads = (site.teams.get(person["team"]) or {}).get("leads") or []
            team = by_team[person["team"]] = {
                "asked": 0,
                "options": {key: 0 for key in options},
                "unanswered": 0,
                "leads": [{"id": i, "name": people.get(i, {}).get("name", i)} for i in leads],
            }
        team["asked"] += 1
        answer = current.get(person["id"])
        if answer is None:
            team["unanswered"] += 1
            unaccounted.append({"id": person["id"], "name": person["name"], "team": person["team"]})
            continue
        option, at = answer
        totals[option] = totals.get(option, 0) + 1
        team["options"][option] = team["options"].get(option, 0) + 1
        if due is not None and at > due:
            late += 1
    return {
        "asked": len(asked),
        "answered": len(asked) - len(unaccounted),
        "late": late,
        "options": totals,
        "unanswered": len(unaccounted),
        "by_team": dict(sorted(by_team.items())),
        "unaccounted": unaccounted,
    }
