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
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One value as a CSV cell: None empty, dicts and lists as JSON, formulas neutralised."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


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
