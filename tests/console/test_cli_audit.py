"""The keyed, witnessed audit chain from the CLI on the local store: the three attacks of a
database writer (a row edited with every hash recomputed, a cut tail, the whole database restored
from an older copy) are caught; a restore done on purpose is re-anchored; a rotated key still
verifies the older rows."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from console.cli import app
from flows.audit import GENESIS, legacy_hash
from flows.store import Store, runbook_home
from flows.store.schema import audit, audit_heads

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def started_run() -> str:
    result = cli("lockdown", "lab")
    assert result.exit_code == 0, result.output
    run = result.stdout.strip()
    assert cli("approve", run, "declare").exit_code == 0
    assert cli("done", run, "prepare", "--field", "ticket=CHG-7", "--as", "L0001").exit_code == 0
    return run


def verify_all() -> tuple[int, dict]:
    result = cli("audit", "--verify-all", "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def chain_of(data: dict, chain: str) -> dict:
    return next(c for c in data["chains"] if c["chain"] == chain)


def rewrite_chain(chain: str, keep: int | None = None, actor_of_2: str | None = None) -> None:
    """What a database writer without the key can do: edit or cut rows, then recompute every
    hash after them (the unkeyed SHA-256 an attacker can compute) and the head."""
    store = Store()
    with store.engine.begin() as conn:
        if keep is not None:
            conn.execute(delete(audit).where(audit.c.chain == chain, audit.c.n > keep))
        if actor_of_2 is not None:
            conn.execute(update(audit).where(audit.c.chain == chain, audit.c.n == 2).values(actor=actor_of_2))
        rows = [dict(r._mapping) for r in conn.execute(select(audit).where(audit.c.chain == chain).order_by(audit.c.n))]
        prev = GENESIS
        for row in rows:
            digest = legacy_hash(prev, row)
            conn.execute(update(audit).where(audit.c.pk == row["pk"]).values(prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(audit_heads).where(audit_heads.c.chain == chain).values(n=len(rows), hash=prev))
    store.dispose()


def test_the_audit_key_is_created_mode_600_and_a_readable_one_is_refused(lab_env):
    started_run()
    key = runbook_home() / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((runbook_home() / "audit.witness").stat().st_mode) == 0o600
    os.chmod(key, 0o644)
    result = cli("audit", "--verify-all")
    assert result.exit_code != 0
    assert "lets others read the audit key; chmod 600" in str(result.exception) + result.output


def test_a_row_edited_with_every_hash_and_the_head_recomputed_is_caught(lab_env):
    run = started_run()
    assert cli("audit", run, "--verify").exit_code == 0
    rewrite_chain(run, actor_of_2="someone else")
    result = cli("audit", run, "--verify")
    assert result.exit_code == 1
    assert "entry 1" in result.stdout and "was altered" in result.stdout
    code, data = verify_all()
    assert code == 1 and not chain_of(data, run)["verified"]


def test_a_tail_cut_with_its_head_fixed_is_caught_by_the_witness(lab_env):
    run = started_run()
    entries = json.loads(cli("audit", run, "--format", "json").stdout)["entries"]
    assert len(entries) >= 3
    # Cut the last two rows and fix the head: the rows left still verify under the key...
    store = Store()
    with store.engine.begin() as conn:
        conn.execute(delete(audit).where(audit.c.chain == run, audit.c.n > len(entries) - 2))
        conn.execute(
            update(audit_heads).where(audit_heads.c.chain == run).values(n=len(entries) - 2, hash=entries[-3]["hash"])
        )
    store.dispose()
    # ...but the witness saw the chain longer (each local command checkpoints when it ends).
    result = cli("audit", run, "--verify")
    assert result.exit_code == 1
    assert f"the witness saw {len(entries)} entries" in result.stdout and "tail was cut" in result.stdout


def test_a_database_restored_from_an_older_copy_is_caught_and_a_deliberate_restore_reanchored(lab_env):
    first = started_run()
    db = runbook_home() / "runbook.db"
    backup = lab_env / "backup.db"
    with sqlite3.connect(db) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    assert cli("cancel", first, "--reason", "drill over").exit_code == 0
    code, data = verify_all()
    assert code == 0, data

    with sqlite3.connect(backup) as src, sqlite3.connect(db) as dst:  # the restore
        src.backup(dst)
    code, data = verify_all()
    assert code == 1
    problem = chain_of(data, first)["problem"]
    assert "restored from an older copy" in problem
    assert set(chain_of(data, first)) == {"chain", "entries", "verified", "problem"}

    result = cli("audit", "reanchor")
    assert result.exit_code == 2 and "needs --reason" in result.stderr
    result = cli("audit", "reanchor", "--reason", "restored the 09:00 backup after the disk failure (CHG-42)")
    assert result.exit_code == 0, result.output
    code, data = verify_all()
    assert code == 0, data
    store = Store()
    with store.read() as r:
        row = r.audit("audit")[-1]
    store.dispose()
    assert row["action"] == "audit.reanchor" and row["actor"].startswith("os:")
    assert "CHG-42" in row["reason"] and first in row["detail"]["chains_not_verifying"]


def test_every_chain_verifies_after_a_key_rotation(lab_env):
    run = started_run()
    before = (runbook_home() / "audit.key").read_text()
    result = cli("audit", "rotate-key", "--reason", "yearly rotation", "--format", "json")
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.stdout)
    assert (runbook_home() / "audit.key").read_text() != before
    assert stat.S_IMODE((runbook_home() / "audit.key.retired").stat().st_mode) == 0o600
    assert cli("cancel", run, "--reason", "after the rotation").exit_code == 0
    code, data = verify_all()
    assert code == 0, data
    store = Store()
    with store.read() as r:
        rows = r.audit(run)
        rotation = r.audit("audit")[-1]
    store.dispose()
    assert {rows[0]["key_id"], rows[-1]["key_id"]} == {rotated["old"], rotated["key"]}  # old rows, new rows
    assert rotation["action"] == "audit.key.rotate" and rotation["reason"] == "yearly rotation"
    # Without the retired key the older rows no longer verify: it is the key that vouches for them.
    (runbook_home() / "audit.key.retired").unlink()
    code, data = verify_all()
    assert code == 1 and "not configured" in chain_of(data, run)["problem"]


def test_an_environment_key_signs_and_the_wrong_key_does_not_verify(lab_env, monkeypatch):
    monkeypatch.setenv("RUNBOOK_AUDIT_KEY", "k" * 40)
    run = started_run()
    assert not (runbook_home() / "audit.key").exists()
    assert cli("audit", run, "--verify").exit_code == 0
    monkeypatch.setenv("RUNBOOK_AUDIT_KEY", "short")
    result = cli("audit", run, "--verify")
    assert result.exit_code != 0 and "at least 32 characters" in str(result.exception)
    monkeypatch.setenv("RUNBOOK_AUDIT_KEY", "x" * 40)
    assert cli("audit", run, "--verify").exit_code == 1
    monkeypatch.setenv("RUNBOOK_AUDIT_RETIRED_KEYS", "k" * 40)  # rotated in the environment
    assert cli("audit", "rotate-key", "--reason", "moved to the vault").exit_code == 0
    code, data = verify_all()
    assert code == 0, data
