"""Metrics edge: the store's counts (and this process's runner) → Prometheus text format 0.0.4,
written by hand (no client library: a handful of gauges read at scrape time).

They carry no personal data: counts by state only. `/metrics` on `runbook serve` answers
loopback callers that come straight (no proxy headers) without a token, and anyone else with
the token of an account that may read (POLICY "metrics"); `runbook worker --metrics-port`
serves the same text on 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RUN_STATES = ("running", "completed", "failed", "cancelled")
TASK_STATES = ("pending", "ready", "running", "waiting", "done", "failed", "rejected", "skipped", "cancelled")
OUTBOX_STATES = ("pending", "sent", "dead")


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _by_state(counts: dict[str, int], known: tuple[str, ...]) -> list[tuple[dict[str, str], float]]:
    states = list(known) + sorted(set(counts) - set(known))  # every known state, 0 when absent
    return [({"state": s}, counts.get(s, 0)) for s in states]


def render_metrics(store: Any, runner: Any = None) -> str:
    with store.read() as r:
        runs, tasks, outbox = r.runs_by_state(), r.open_tasks_by_state(), r.outbox_counts()
        overdue, takeovers = r.overdue_open_tasks(), r.lease_takeovers()
    lines: list[str] = []
    lines += _family("runbook_runs", "gauge", "Runs in the store by state.", _by_state(runs, RUN_STATES))
    lines += _family("runbook_tasks", "gauge", "Tasks of running runs by state.", _by_state(tasks, TASK_STATES))
    lines += _family(
        "runbook_tasks_overdue", "gauge", "Waiting tasks of running runs past their due time.", [({}, overdue)]
    )
    lines += _family(
        "runbook_outbox",
        "gauge",
        "Notifications in the outbox by state (pending is the depth).",
        _by_state(outbox, OUTBOX_STATES),
    )
    lines += _family(
        "runbook_lease_takeovers_total",
        "counter",
        "Runs taken over from a runner whose lease expired (all runners, kept in the store).",
        [({}, takeovers)],
    )
    if runner is not None:
        lines += _family(
            "runbook_runner_runs_owned",
            "gauge",
            "Runs this process's runner owns now.",
            [({"runner": runner.name}, len(runner.owned))],
        )
    return "\n".join(lines) + "\n"
