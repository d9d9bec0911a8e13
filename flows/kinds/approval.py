"""`approval`: approved (by `required` approvers) or rejected, never checked off; four eyes
are checked by flows/rules.py."""

from __future__ import annotations

from .base import StepKind


class Approval(StepKind):
    name = "approval"
    decides = True
    assigned_event = "approval.requested"


KIND = Approval()
