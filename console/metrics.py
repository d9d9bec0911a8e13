"""Metrics edge: the store's counts (and this process's runner) → Prometheus text format 0.0.4,
through `prometheus-client`: a collector reads the counts at scrape time into metric families
of a registry of its own (no process-global state, no default collectors).

They carry no personal data: counts by state only. `/metrics` on `runbook serve` answers
loopback callers that come straight (no proxy headers) without a token, and anyone else with
the token of an account that may read (POLICY "metrics"); `runbook worker --metrics-port`
serves the same text on 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
RUN_STATES = ("running", "completed", "failed", "cancelled")
TASK_STATES = ("pending", "ready", "running", "waiting", "done", "failed", "rejected", "skipped", "cancelled")
OUTBOX_STATES = ("pending", "sent", "dead")


def _by_state(name: str, help_text: str, counts: dict[str, int], known: tuple[str, ...]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=["state"])
    for state in list(known) + sorted(set(counts) - set(known)):  # every known state, 0 when absent
        family.add_metric([state], counts.get(state, 0))
    return family


class StoreCollector:
    """Read at every scrape: one transaction for all the counts."""

    def __init__(self, store: Any, runner: Any = None):
        self.store, self.runner = store, runner

    def collect(self) -> Iterator[Metric]:
        with self.store.read() as r:
            runs, tasks, outbox = r.runs_by_state(), r.open_tasks_by_state(), r.outbox_counts()
            overdue, takeovers = r.overdue_open_tasks(), r.lease_takeovers()
        yield _by_state("runbook_runs", "Runs in the store by state.", runs, RUN_STATES)
        yield _by_state("runbook_tasks", "Tasks of running runs by state.", tasks, TASK_STATES)
        yield GaugeMetricFamily(
            "runbook_tasks_overdue", "Waiting tasks of running runs past their due time.", value=overdue
        )
        yield _by_state(
            "runbook_outbox", "Notifications in the outbox by state (pending is the depth).", outbox, OUTBOX_STATES
        )
        yield CounterMetricFamily(
            "runbook_lease_takeovers",
            "Runs taken over from a runner whose lease expired (all runners, kept in the store).",
            value=takeovers,
        )
        if self.runner is not None:
            owned = GaugeMetricFamily(
                "runbook_runner_runs_owned", "Runs this process's runner owns now.", labels=["runner"]
            )
            owned.add_metric([self.runner.name], len(self.runner.owned))
            yield owned


def render_metrics(store: Any, runner: Any = None) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, runner))
    return generate_latest(registry).decode()
