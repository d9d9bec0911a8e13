"""A synthetic site of N people (one team, phones) and a library holding one runbook, under a
temporary directory: what the roll-call and dashboard benchmarks run on."""

from __future__ import annotations

from pathlib import Path


def write(tmp: str | Path, people: int, runbook_id: str, runbook: str, timezone: str = "UTC") -> tuple[Path, Path]:
    """→ (library directory, sites directory) holding `<runbook_id>.yaml` and the site `big`."""
    library, site = Path(tmp) / "library", Path(tmp) / "sites" / "big"
    library.mkdir()
    site.mkdir(parents=True)
    (library / f"{runbook_id}.yaml").write_text(runbook)
    (site / "site.yaml").write_text(
        f"id: big\nname: Big site\nkind: lab\ntimezone: {timezone}\n"
        "teams:\n  ops: {name: Ops, leads: [P00000]}\n"
        # personal links go by SMS only (a personal channel); BIG_SMS_URL: the benchmark's sink
        'channels:\n  console: {kind: console}\n  phones: {kind: sms, url: "${{ env.BIG_SMS_URL }}"}\n'
        "default_channel: console\n"
    )
    (site / "staff.csv").write_text(
        "id,name,team,phone\n" + "".join(f"P{i:05d},Person {i},ops,+86137{i:08d}\n" for i in range(people))
    )
    return library, site.parent
