"""Exports edge: a run's audit and tasks → CSV text (for `runbook audit --format csv` and the
dashboard's `/runs/{run}/audit.csv`, `/runs/{run}/tasks.csv`). A cell a spreadsheet would read
as a formula (beginning with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with
`'`: a step named `=HYPERLINK(…)` stays text when a continuity manager opens the file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

AUDIT_COLUMNS = ("at", "actor", "action", "target", "reason", "detail")
TASK_COLUMNS = ("id", "step", "item", "title", "state", "owner", "overdue", "due_at", "ended_at", "ended_by", "asset")
FORMULA_START = frozenset("=+-@\t\r")
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)


def cell(value: Any) -> str:
    """One value as a CSV cell: None empty, dicts and lists as JSON, formulas neutralised."""
    if value.__class__ is str:  # most cells: no isinstance walk through the ABCs
        text = value
    elif value is None:
        return ""
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, dict | list | tuple):
        text = _JSON.encode(value)
    else:
        text = str(value)
    return "'" + text if text and text[0] in FORMULA_START else text


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def audit_csv(data: Mapping[str, Any]) -> str:
    """`{entries: [...]}` (the audit JSON) → `at,actor,action,target,reason,detail` (detail as JSON)."""
    return csv_text(AUDIT_COLUMNS, data["entries"])


def tasks_csv(tasks: Iterable[Mapping[str, Any]]) -> str:
    """Task JSON rows → one line each; an allocated asset as its key."""
    return csv_text(TASK_COLUMNS, ({**t, "asset": (t.get("asset") or {}).get("key")} for t in tasks))


GRANT_COLUMNS = (
    "person",
    "name",
    "system",
    "profile",
    "scope",
    "asset",
    "state",
    "granted_at",
    "expires_at",
    "review_at",
    "review_overdue",
    "reason",
    "revoked_at",
    "verified_at",
    "iam_id",
    "run",
    "drill",
)


def grants_csv(grants: Iterable[Mapping[str, Any]]) -> str:
    """The grant ledger's rows (`runbook grants`, `/sites/{site}/grants.csv`); a scope as JSON."""
    return csv_text(GRANT_COLUMNS, grants)
