"""notify step: a rendered message and its targets → delivered through notifications/."""
from __future__ import annotations

from typing import Any

from notifications.deliver import Message, deliver

from . import StepJob


def execute(job: StepJob) -> dict[str, Any]:
    text = job.params.get("message") or job.params.get("template") or ""
    message = Message(event="task.done", run=job.run_id, task=job.task_id, text=str(text), drill=job.drill,
                      site=job.site.get("id", ""), lang=job.site.get("lang", "en"))
    sent = deliver(message, [str(t) for t in job.params.get("to", [])], job.site, job.home)
    return {"sent": sent}
