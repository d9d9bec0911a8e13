"""Audit witness: the chains' heads in the database → signed checkpoints appended to a file
outside it (and to syslog, optionally); that file → the longest head the witness saw of each chain.

A database writer who cuts a chain's tail, or restores the whole database from an older copy,
fixes the heads too; the witness still knows the chains were longer. Checkpoints are written
every few seconds and at shutdown (`Checkpointer`), never per transition: what was appended in
the last interval before a cut is not witnessed. A re-anchoring line (`runbook audit reanchor`)
starts over from the database's heads, after a restore done on purpose.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import logging.handlers
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audit import Witnessed
from .audit_keys import Keyring
from .store import Store, runbook_home, utcnow

log = logging.getLogger(__name__)


def witness_path() -> Path:
    """`RUNBOOK_AUDIT_WITNESS`, or `$RUNBOOK_HOME/audit.witness` (on shared storage when several
    machines serve one database)."""
    return Path(os.environ.get("RUNBOOK_AUDIT_WITNESS") or runbook_home() / "audit.witness")


def checkpoint_every() -> float:
    raw = os.environ.get("RUNBOOK_AUDIT_CHECKPOINT_SECONDS", "5")
    try:
        every = float(raw)
    except ValueError:
        raise ValueError(f"RUNBOOK_AUDIT_CHECKPOINT_SECONDS must be a number of seconds, got {raw!r}") from None
    if not 0.05 <= every <= 3600:
        raise ValueError(f"RUNBOOK_AUDIT_CHECKPOINT_SECONDS must be between 0.05 and 3600, got {raw!r}")
    return every


def _signature(key: bytes, body: Mapping[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, b"runbook-witness\n" + text.encode(), hashlib.sha256).hexdigest()


@dataclass
class WitnessState:
    """What the witness file says: the longest head per chain since the last re-anchoring, and
    the lines it could not trust."""

    heads: dict[str, Witnessed] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    lines: int = 0
    anchored_at: str | None = None


class Witness:
    def __init__(self, keys: Keyring, path: Path | None = None, syslog: str | None = None):
        self.keys = keys
        self.path = path or witness_path()
        address = syslog if syslog is not None else os.environ.get("RUNBOOK_AUDIT_SYSLOG")
        self._syslog = _syslog_logger(address) if address else None

    def sign(self, body: Mapping[str, Any]) -> dict[str, Any]:
        signed = {**body, "key": self.keys.current_id}
        return {**signed, "sig": _signature(self.keys.current, signed)}

    def append(self, bodies: Iterable[Mapping[str, Any]]) -> int:
        """Append signed lines in one write, under an exclusive lock, then fsync (several
        processes may share the file)."""
        lines = [json.dumps(self.sign(b), sort_keys=True, ensure_ascii=False) for b in bodies]
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, ("\n".join(lines) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if self._syslog is not None:
            for line in lines:
                self._syslog.info("runbook-audit-witness %s", line)
        return len(lines)

    def read(self) -> WitnessState:
        state = WitnessState()
        if not self.path.exists():
            return state
        raw = self.path.read_text(encoding="utf-8", errors="replace").split("\n")
        if raw and raw[-1] == "":
            raw.pop()
        for line_no, text in enumerate(raw, start=1):
            state.lines += 1
            try:
                record = json.loads(text)
                body = {k: v for k, v in record.items() if k != "sig"}
                key = self.keys.by_id.get(str(record.get("key")))
                trusted = key is not None and hmac.compare_digest(_signature(key, body), str(record["sig"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                if line_no == len(raw):  # a write cut by a crash: the checkpoint before it holds
                    continue
                state.problems.append(f"{self.path}:{line_no}: not a witness line")
                continue
            if not trusted:
                state.problems.append(f"{self.path}:{line_no}: its signature does not verify (key {record.get('key')})")
                continue
            if record.get("kind") == "reanchor":
                state.heads = {c: Witnessed(int(n), h, record["at"]) for c, (n, h) in record["heads"].items() if n}
                state.anchored_at = record["at"]
            elif record.get("kind") == "checkpoint":
                seen = state.heads.get(record["chain"])
                if seen is None or int(record["n"]) > seen.n:
                    state.heads[record["chain"]] = Witnessed(int(record["n"]), record["hash"], record["at"])
        return state

    def reanchor(self, heads: Mapping[str, tuple[int, str]], *, actor: str, reason: str) -> None:
        at = utcnow().isoformat()
        self.append([{"kind": "reanchor", "at": at, "actor": actor, "reason": reason, "heads": dict(heads)}])


def _syslog_logger(address: str) -> logging.Logger:
    """`RUNBOOK_AUDIT_SYSLOG`: `/dev/log` (a socket path) or `host:port` (UDP)."""
    target: str | tuple[str, int] = address
    if not address.startswith("/"):
        host, _, port = address.rpartition(":")
        target = (host or "localhost", int(port or 514))
    logger = logging.getLogger(f"runbook.audit.witness.{address}")  # one handler per address
    if not logger.handlers:
        logger.addHandler(logging.handlers.SysLogHandler(address=target))
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class Checkpointer:
    """Writes each chain's head to the witness when it changed since the last checkpoint."""

    def __init__(self, store: Store, witness: Witness | None = None, every: float | None = None):
        self.store = store
        self.witness = witness or Witness(store.keys)
        self.every = every if every is not None else checkpoint_every()
        self._mutex = threading.Lock()
        self._written: dict[str, int] | None = None

    def checkpoint(self) -> int:
        """One pass; returns how many chains were checkpointed."""
        with self._mutex:
            if self._written is None:
                self._written = {c: w.n for c, w in self.witness.read().heads.items()}
            with self.store.read() as r:
                heads = r.audit_heads()
            at = utcnow().isoformat()
            bodies = [
                {"kind": "checkpoint", "at": at, "chain": h["chain"], "n": int(h["n"]), "hash": h["hash"]}
                for h in heads
                if h["n"] and self._written.get(h["chain"]) != int(h["n"])
            ]
            written = self.witness.append(bodies)
            for b in bodies:
                self._written[b["chain"]] = b["n"]
            return written

    def forget(self) -> None:
        """After a re-anchoring: the next pass compares with the file again."""
        with self._mutex:
            self._written = None

    def run(self, stop: threading.Event) -> None:
        """Every `every` seconds until `stop`, then once more (the shutdown checkpoint)."""
        while not stop.wait(self.every):
            try:
                self.checkpoint()
            except Exception:  # a full disk or a database blip: the next pass tries again
                log.exception("an audit checkpoint failed")
        try:
            self.checkpoint()
        except Exception:  # pragma: no cover - logged: the shutdown must go on
            log.exception("the shutdown checkpoint of the audit chains failed")
