"""Steps: one module per automated step kind, chosen from `EXECUTORS` by kind. An executor
takes a `StepJob` (the step's parameters already rendered) and returns the step's outputs, or
raises `StepError` (retryable or not). Executors do the side effect and nothing else: the
runner records the result in the store. The shared types live in `base.py`, so the executors
never import this registry back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import grant, http, shifts, wait
from .base import StepError, StepJob, mask, mask_value

__all__ = ["EXECUTORS", "StepError", "StepJob", "executor", "mask", "mask_value"]

EXECUTORS: dict[str, Callable[[StepJob], dict[str, Any]]] = {
    "http": http.execute,
    "grant": grant.execute,
    "wait": wait.execute,
    "shifts": shifts.execute,
}


def executor(kind: str) -> Callable[[StepJob], dict[str, Any]]:
    return EXECUTORS[kind]
