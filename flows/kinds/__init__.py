"""Step kinds as plug-ins: each kind's behaviour (flows/kinds/base.StepKind) registered by
name. The state machine asks the registry, never `if kind == …`; a new kind is a module here,
a line below, and its row in flows/states.TRANSITIONS (a test checks the three agree)."""

from __future__ import annotations

from . import allocate, approval, automated, calls, checkin, grant, loan, manual, muster, notify, shifts
from .base import StepKind

KINDS: dict[str, StepKind] = {
    k.name: k
    for k in (
        manual.KIND,
        approval.KIND,
        muster.KIND,
        allocate.KIND,
        notify.KIND,
        automated.HTTP,
        automated.WAIT,
        calls.KIND,
        shifts.KIND,
        grant.GRANT,
        grant.REVIEW,
        checkin.KIND,
        loan.KIND,
    )
}
# The outputs any kind's live ratio reads: what an objective's single task is read with.
LIVE_KEYS = tuple(sorted({key for k in KINDS.values() for key in k.live_keys}))
# Kinds the runner executes; the others are done by people or by the engine in a transaction.
RUNNER_KINDS = frozenset(name for name, k in KINDS.items() if k.runs)


def kind_of(name: str) -> StepKind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f'no step kind "{name}" is registered (kinds: {", ".join(sorted(KINDS))})') from None
