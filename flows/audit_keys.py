"""Audit keys: the environment or `$RUNBOOK_HOME` → the keyring that signs audit rows and
witness checkpoints (the current key, and the retired ones that keep older rows verifiable).

The key lives outside the database on purpose: whoever can rewrite the database must not be able
to re-sign it. `RUNBOOK_AUDIT_KEY` (at least 32 characters) wins; otherwise `$RUNBOOK_HOME/audit.key`
is created, mode 600, on first use. Every replica and worker of a deployment must use the same
key. Retired keys: `RUNBOOK_AUDIT_RETIRED_KEYS` (comma-separated) and `$RUNBOOK_HOME/audit.key.retired`
(one per line), which `runbook audit rotate-key` appends to.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

MIN_KEY_LENGTH = 32


class AuditKeyError(Exception):
    """The audit key is missing, too short or readable by others: the store refuses to start."""


def key_id(key: bytes) -> str:
    """A short public name of a key (rows and checkpoints carry it; it does not reveal the key)."""
    return hashlib.sha256(b"runbook-audit-key-id\n" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    current: bytes
    retired: tuple[bytes, ...] = ()
    source: str = ""
    by_id: dict[str, bytes] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for k in (*self.retired, self.current):
            self.by_id[key_id(k)] = k

    @property
    def current_id(self) -> str:
        return key_id(self.current)


def _checked(text: str, where: str) -> bytes:
    text = text.strip()
    if len(text) < MIN_KEY_LENGTH:
        raise AuditKeyError(f"{where}: an audit key needs at least {MIN_KEY_LENGTH} characters, got {len(text)}")
    return text.encode()


def _private_file(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AuditKeyError(f"{path}: mode {mode:o} lets others read the audit key; chmod 600 {path}")
    return path.read_text()


def _create(path: Path) -> None:
    """Write a new key beside `path`, then link it into place: a process starting at the same
    time sees either no key or the whole key, never an empty file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process of this deployment created it first
            pass
    finally:
        tmp.unlink(missing_ok=True)


def load_keyring(home: Path) -> Keyring:
    retired: list[bytes] = []
    for i, part in enumerate(os.environ.get("RUNBOOK_AUDIT_RETIRED_KEYS", "").split(",")):
        if part.strip():
            retired.append(_checked(part, f"RUNBOOK_AUDIT_RETIRED_KEYS (key {i + 1})"))
    retired_file = home / "audit.key.retired"
    if retired_file.exists():
        for line_no, line in enumerate(_private_file(retired_file).splitlines(), start=1):
            if line.strip():
                retired.append(_checked(line, f"{retired_file}:{line_no}"))
    env = os.environ.get("RUNBOOK_AUDIT_KEY")
    if env:
        return Keyring(_checked(env, "RUNBOOK_AUDIT_KEY"), tuple(retired), "RUNBOOK_AUDIT_KEY")
    path = home / "audit.key"
    if not path.exists():
        _create(path)
    return Keyring(_checked(_private_file(path), str(path)), tuple(retired), str(path))


def rotate_key_file(home: Path) -> tuple[str, str]:
    """A new `$RUNBOOK_HOME/audit.key`, the old one appended to `audit.key.retired`; returns
    (old id, new id). With `RUNBOOK_AUDIT_KEY` set the operator rotates the environment instead."""
    if os.environ.get("RUNBOOK_AUDIT_KEY"):
        raise AuditKeyError(
            "RUNBOOK_AUDIT_KEY is set: rotate it there (the old value into RUNBOOK_AUDIT_RETIRED_KEYS), "
            "then run `runbook audit rotate-key --reason R` to record it"
        )
    ring = load_keyring(home)
    retired = home / "audit.key.retired"
    fd = os.open(retired, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(ring.current.decode() + "\n")
        f.flush()
        os.fsync(f.fileno())
    new = home / "audit.key.new"
    new.unlink(missing_ok=True)
    _create(new)
    new.replace(home / "audit.key")
    return ring.current_id, load_keyring(home).current_id
