"""Coverage gaps, on the runner's look at the clock: a run + its site's queues → one
`coverage.gap` event per gap (consecutive short intervals in the next 24 hours), never again for
a gap any of whose intervals was already announced — under the same active loans: when a loan
starts or ends, what is still short is told again once (where a lent block ends, a gap begins).
Never inside a check-off's transaction."""

from __future__ import annotations

from .coverage import gap_text, gap_window, gaps, run_rows, site_loans
from .runview import RunView

GAP_HOURS = 24


def check_gaps(rs: RunView) -> None:
    site = rs.plan.site
    queues = [q for q in site.service.values() if any(rs.plan.find(s.step) is not None for s in q.supply)]
    if not queues:
        return
    announced: set[tuple[str, str, tuple[str, ...]]] | None = None
    for queue in queues:
        rows = run_rows(rs.tx, rs.run_id, site, queue, rs.now, GAP_HOURS)
        found = gaps(rows)
        if not found:
            continue
        loans = sorted(x["id"] for x in site_loans(rs.tx, site.id, queue.id))
        if announced is None:
            announced = {
                (str(e["data"].get("queue")), str(start), tuple(e["data"].get("loans") or ()))
                for e in rs.tx.events_named(rs.run_id, "coverage.gap")
                for start in (e["data"] or {}).get("intervals", [])
            }
        for gap in found:
            starts = [str(r["start"]) for r in gap]
            if any((queue.id, s, tuple(loans)) in announced for s in starts):
                continue
            announced.update((queue.id, s, tuple(loans)) for s in starts)
            rs.event(
                "coverage.gap",
                loans=loans,
                queue=queue.id,
                name=queue.name,
                start=starts[0],
                end=gap[-1]["end_local"],
                local=gap[0]["local"],
                text=gap_text(gap),
                window=gap_window(gap),
                staffed=min(r["staffed"]["total"] for r in gap),
                required=max(r["required"] for r in gap),
                intervals=starts,
            )
