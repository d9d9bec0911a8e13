"""A person's shifts → an iCalendar file (RFC 5545, through `icalendar`): one VEVENT per live
shift, stable UIDs (`<run>-<shift>@runbook`), so a calendar updates rather than duplicates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from icalendar import Calendar, Event


def shifts_ics(site_name: str, shifts: Sequence[Mapping[str, Any]], now: dt.datetime) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//runbook//shifts//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    for s in shifts:
        event = Event()
        event.add("uid", f"{s['run_id']}-{s['id']}@runbook")
        event.add("dtstamp", now.astimezone(dt.UTC))
        event.add("dtstart", _aware(s["start_at"]))
        event.add("dtend", _aware(s["end_at"]))
        event.add("summary", f"{site_name}: {s['queue']} shift")
        event.add("status", "CONFIRMED" if s["status"] == "acknowledged" else "TENTATIVE")
        cal.add_component(event)
    return bytes(cal.to_ical())


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
