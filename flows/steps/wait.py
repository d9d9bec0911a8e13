"""wait step: the runner keeps the timer (`for` deadline or `until` condition) in the store;
by the time it executes, the wait is over."""

from __future__ import annotations

from typing import Any

from .base import StepJob


def execute(job: StepJob) -> dict[str, Any]:
    return {}
