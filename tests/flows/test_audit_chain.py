"""The audit chain in the store, on SQLite and PostgreSQL: rows signed with the audit key,
chains written before the key migrated (and a broken one left to fail), checkpoints written to
the witness every few seconds and at shutdown — not per transition — and untrusted witness lines
reported."""

from __future__ import annotations

import json
import threading
from datetime import datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, update

from flows.audit import GENESIS, legacy_hash
from flows.audit_ops import AuditOps
from flows.store import Store
from flows.store.migrate import HERE as MIGRATIONS
from flows.store.schema import audit, audit_heads
from flows.witness import Checkpointer, Witness
from tests.flows.conftest import HERE
from tests.support.processes import wait_for


def start(engine, operator) -> str:
    return engine.start(str(HERE / "library" / "interventions.yaml"), "lab", operator)["id"]


def write_legacy_chain(store: Store, chain: str, count: int) -> None:
    """Rows as the store wrote them before the audit key: plain SHA-256, no key id."""
    prev = GENESIS
    with store.engine.begin() as conn:
        for n in range(1, count + 1):
            entry = {
                "chain": chain,
                "n": n,
                "at": f"2026-01-0{n}T00:00:00+00:00",
                "actor": "os:ops",
                "action": "task.complete",
                "target": f"t{n}",
                "reason": None,
                "detail": None,
            }
            digest = legacy_hash(prev, entry)
            row = {**entry, "at": datetime.fromisoformat(entry["at"]), "prev_hash": prev, "hash": digest}
            conn.execute(insert(audit).values(**row))
            prev = digest
        conn.execute(insert(audit_heads).values(chain=chain, n=count, hash=prev))


def test_rows_are_signed_with_the_audit_key(store, engine, operator):
    run = start(engine, operator)
    with store.read() as r:
        rows = r.audit(run)
    assert rows and {row["key_id"] for row in rows} == {store.keys.current_id}
    assert engine.audit(run)["verified"]


def test_chains_written_before_the_key_are_migrated_and_a_broken_one_is_left_failing(store):
    url = store.url
    store.dispose()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS / "migrations"))
    old = Store(url, migrate=False)
    with old.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    write_legacy_chain(old, "rkept", 3)
    write_legacy_chain(old, "rbroken", 3)
    with old.engine.begin() as conn:  # an edit made before the migration, hashes not recomputed
        conn.execute(update(audit).where(audit.c.chain == "rbroken", audit.c.n == 2).values(actor="someone"))
    old.dispose()

    migrated = Store(url)  # migration 0010, then the re-signing at open
    try:
        assert list(migrated.legacy_problems) == ["rbroken"]
        assert "entry 2" in migrated.legacy_problems["rbroken"]
        ops = AuditOps(migrated)
        with migrated.read() as r:
            kept = r.audit("rkept")
            assert ops.verify(r, "rkept").verified
            broken = ops.verify(r, "rbroken")
        assert [row["action"] for row in kept][-1] == "audit.migrate"
        assert kept[-1]["detail"]["entries"] == 3 and kept[-1]["actor"] == "system"
        assert not broken.verified and any("was altered" in p for p in broken.problems)
        again = Store(url)  # a second open has nothing left to migrate but the broken chain
        assert list(again.legacy_problems) == ["rbroken"]
        again.dispose()
        with migrated.read() as r:
            assert len(r.audit("rkept")) == 4
    finally:
        migrated.dispose()


def test_checkpoints_come_every_few_seconds_and_at_shutdown_not_per_transition(store, engine, operator, lab_env):
    witness = Witness(store.keys, lab_env / "witness.jsonl")
    checkpointer = Checkpointer(store, witness, every=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=checkpointer.run, args=(stop,))
    thread.start()
    try:
        run = start(engine, operator)
        wait_for(lambda: run in witness.read().heads, timeout=10, what="a checkpoint of the new run")
        engine.complete(run, "check", operator, fields={"count": 3})
        with store.read() as r:
            head = r.audit_head(run)
        wait_for(lambda: witness.read().heads[run].n == head["n"], timeout=10, what="the approval checkpointed")
        lines = witness.read().lines
        # Nothing changed: no new line however many passes run.
        wait_for(lambda: checkpointer.checkpoint() == 0, timeout=10, what="an idle pass")
        assert witness.read().lines == lines
        engine.cancel(run, operator, reason="drill over")
    finally:
        stop.set()
        thread.join(10)
    with store.read() as r:
        head = r.audit_head(run)
    seen = witness.read().heads[run]  # the shutdown checkpoint took the cancellation
    assert (seen.n, seen.hash) == (head["n"], head["hash"])


def test_witness_lines_that_do_not_verify_are_reported(store, engine, operator, lab_env):
    run = start(engine, operator)
    witness = Witness(store.keys, lab_env / "witness.jsonl")
    Checkpointer(store, witness).checkpoint()
    forged = json.loads(witness.path.read_text().splitlines()[0])
    forged.update(chain=run, n=1)
    forged["sig"] = "0" * 64
    with witness.path.open("a") as f:
        f.write(json.dumps(forged) + '\nnot json\n{"cut')  # a forged line, garbage, a write cut by a crash
    state = witness.read()
    assert len(state.problems) == 2
    assert "signature does not verify" in state.problems[0] and "not a witness line" in state.problems[1]
    result = AuditOps(store, witness).verify_all()
    assert not result["verified"]
    assert [c["chain"] for c in result["chains"] if not c["verified"]] == ["witness"]


def test_checkpoints_also_go_to_syslog_when_asked(store, engine, operator, lab_env):
    """RUNBOOK_AUDIT_SYSLOG=host:port: each signed line is also sent to syslog (UDP here, a real
    socket), so a copy of the heads lives on another machine."""
    import socket

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    try:
        witness = Witness(store.keys, lab_env / "witness.jsonl", syslog=f"127.0.0.1:{receiver.getsockname()[1]}")
        engine.start("human_response", "lab", operator)
        assert Checkpointer(store, witness=witness, every=3600).checkpoint() >= 1
        received = receiver.recv(65536).decode()
    finally:
        receiver.close()
    assert "runbook-audit-witness" in received
    line = received.split("runbook-audit-witness ", 1)[1].rstrip("\x00\n")
    assert line in (lab_env / "witness.jsonl").read_text().splitlines(), "the same signed line as in the file"
