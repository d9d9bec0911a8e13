"""What every step executor shares: a `StepJob` (the step's parameters rendered) in, outputs or
a `StepError` (retryable or not) out, and masking of the job's secrets in what it reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class StepError(Exception):
    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.message, self.retryable = message, retryable


@dataclass(frozen=True)
class StepJob:
    run_id: str
    task_id: str
    step_id: str
    kind: str
    item_key: str | None
    params: Mapping[str, Any]  # rendered (may hold secrets: never log or store them)
    idempotency_key: str
    drill: bool
    send_in_drill: bool
    site: Mapping[str, Any]
    home: Path
    secrets: tuple[str, ...] = field(default=(), repr=False)  # values to mask in messages
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the kind's job_extra

    def mask(self, text: str) -> str:
        return mask(text, self.secrets)


def mask_value(value: Any, secrets: tuple[str, ...] | list[str]) -> Any:
    """mask() through lists and mappings (a recorded request body, for example)."""
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, dict):
        return {k: mask_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, secrets) for v in value]
    return value


def mask(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """Replace each secret value (4 characters or more) by ***."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
