"""Deliver: a message + targets → sent through the site's channels. This first version sends
every target through the console channel (stdout and `$RUNBOOK_HOME/console.jsonl`), naming
the target each line was meant for; the outbox and the other channels come with the
notifications issues."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .channels import console


@dataclass(frozen=True)
class Message:
    event: str
    run: str
    task: str | None
    text: str
    drill: bool
    site: str
    lang: str = "en"


def deliver(message: Message, targets: list[str], site: Mapping[str, Any], home: Path) -> int:
    sent = 0
    for target in targets:
        console.send(home, {"id": f"{message.run}:{message.task}:{message.event}:{target}:1", "event": message.event,
                            "site": message.site, "run": message.run, "task": message.task, "recipient": target,
                            "lang": message.lang, "text": message.text, "link": None, "drill": message.drill})
        sent += 1
    return sent
