"""`/metrics`: runs, tasks and outbox by state and lease takeovers in Prometheus text format;
open to a scraper on the machine, a reading account's token from anywhere else."""

from __future__ import annotations

from datetime import timedelta

from flows.store import utcnow


def parse(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_count_runs_tasks_outbox_and_takeovers(api):
    run = api.start()
    with api.store.transaction() as tx:  # a runner took the run, died, and another took it over
        now = utcnow()
        assert tx.acquire_lease(run, "runner-a", now + timedelta(seconds=10), now)
        assert tx.acquire_lease(run, "runner-a", now + timedelta(seconds=10), now), "renewing is no takeover"
    with api.store.transaction() as tx:
        later = utcnow() + timedelta(seconds=11)
        assert tx.acquire_lease(run, "runner-b", later + timedelta(seconds=10), later)

    r = api.call(None, "GET", "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(r.text)
    assert samples['runbook_runs{state="running"}'] == 1 and samples['runbook_runs{state="completed"}'] == 0
    assert samples['runbook_tasks{state="waiting"}'] == 6  # the matrix runbook's six human steps
    assert 'runbook_outbox{state="pending"}' in samples
    assert samples["runbook_lease_takeovers_total"] == 1
    assert "# TYPE runbook_lease_takeovers_total counter" in r.text
    # Prometheus's own parser reads it: every family with its type, no sample left over.
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f.type for f in text_string_to_metric_families(r.text)}
    families.pop("runbook_runner_runs_owned", None)  # only where the app has a runner
    assert families == {
        "runbook_runs": "gauge",
        "runbook_tasks": "gauge",
        "runbook_tasks_overdue": "gauge",
        "runbook_outbox": "gauge",
        "runbook_lease_takeovers": "counter",
    }


def test_metrics_through_a_proxy_need_a_reading_accounts_token(api):
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert api.call(None, "GET", "/metrics", headers=forwarded).status_code == 401
    assert api.call("gateway", "GET", "/metrics", headers=forwarded).status_code == 403
    assert api.call("viewer", "GET", "/metrics", headers=forwarded).status_code == 200
