"""The audit, as the Engine's part that checks it: a chain or every chain (the database against
the key and the witness) → a verdict per chain; a deliberate restore → re-anchored; a key
rotation → recorded. Both decisions are rows of the chain `audit`."""

from __future__ import annotations

from typing import Any

from .actors import Actor
from .audit import Verification, verify_chain
from .errors import Invalid
from .store import Reader, Store
from .witness import Checkpointer, Witness, WitnessState

AUDIT_CHAIN = "audit"  # the audit's own decisions: re-anchorings, key rotations, migrations


class AuditOps:
    def __init__(self, store: Store, witness: Witness | None = None):
        self.store = store
        self.witness = witness or Witness(store.keys)

    def verify(
        self, r: Reader, chain: str, state: WitnessState | None = None, entries: list[dict[str, Any]] | None = None
    ) -> Verification:
        """`entries`: the chain's rows when the caller read them already (in the same transaction)."""
        state = state if state is not None else self.witness.read()
        rows = r.audit(chain) if entries is None else entries
        return verify_chain(rows, r.audit_head(chain), self.store.keys.by_id, state.heads.get(chain))

    def verify_all(self) -> dict[str, Any]:
        """`{chains: [{chain, entries, verified, problem}], verified}`: every chain of the database
        and every chain the witness saw; the witness file's own untrusted lines as chain `witness`."""
        state = self.witness.read()
        chains: list[dict[str, Any]] = []
        with self.store.read() as r:
            names = {h["chain"] for h in r.audit_heads()}
            for name in sorted(names):
                result = self.verify(r, name, state)
                chains.append(_verdict(name, result.entries, list(result.problems)))
        for name in sorted(set(state.heads) - names):
            seen = state.heads[name]
            chains.append(
                _verdict(name, 0, [f"the witness saw {seen.n} entries at {seen.at}; the database has no such chain"])
            )
        if state.problems:
            chains.append(_verdict("witness", state.lines, state.problems))
        return {"chains": chains, "verified": all(c["verified"] for c in chains)}

    def reanchor(self, actor: Actor, reason: str) -> dict[str, Any]:
        """After a restore done on purpose: audit the decision, then witness the heads as they now
        are (what the witness saw beyond them is named in the row)."""
        reason = _reason(reason, "reanchor needs a reason (--reason): say which restore this is")
        before = self.verify_all()
        behind = [c["chain"] for c in before["chains"] if not c["verified"]]
        self._decided(actor, "audit.reanchor", reason, {"chains_not_verifying": behind[:200], "count": len(behind)})
        with self.store.read() as r:
            heads = {h["chain"]: (int(h["n"]), h["hash"]) for h in r.audit_heads()}
        self.witness.reanchor(heads, actor=actor.label, reason=reason)
        return {"reanchored": len(heads), "were_not_verifying": behind}

    def record_key_rotation(self, actor: Actor, reason: str, old: str | None) -> dict[str, Any]:
        """A rotation of the audit key, as a row signed with the new key, then a checkpoint of every
        chain under it."""
        reason = _reason(reason, "rotate-key needs a reason (--reason)")
        keys = self.store.keys
        retired = sorted(set(keys.by_id) - {keys.current_id})
        self._decided(actor, "audit.key.rotate", reason, {"new": keys.current_id, "old": old, "retired": retired})
        Checkpointer(self.store, self.witness).checkpoint()
        return {"key": keys.current_id, "old": old}

    def _decided(self, actor: Actor, action: str, reason: str, detail: dict[str, Any]) -> None:
        """A decision about the audit itself, a row of the chain `audit` in its own transaction."""
        with self.store.transaction(serial=AUDIT_CHAIN) as tx:
            tx.lock_chain(AUDIT_CHAIN)
            tx.append_audit(AUDIT_CHAIN, actor=actor.label, action=action, reason=reason, detail=detail)


def _reason(reason: str | None, refusal: str) -> str:
    """A decision's reason, stripped; none (or only spaces) is refused with `refusal`."""
    if not reason or not reason.strip():
        raise Invalid(refusal)
    return reason.strip()


def _verdict(chain: str, entries: int, problems: list[str]) -> dict[str, Any]:
    return {"chain": chain, "entries": entries, "verified": not problems, "problem": "; ".join(problems) or None}
