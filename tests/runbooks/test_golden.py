"""Golden diagnostics: each invalid runbook or site under cases/ has its expected output pinned.

`cases/invalid/<case>.yaml` + `<case>.out`; a first line `# site: <id>` validates against that
site. `cases/sites/<case>/` is a site directory with its `expected.out`. Run with
UPDATE_GOLDEN=1 to rewrite the .out files after an intended change, then review the diff.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from runbooks.diagnostics import RunbookError
from runbooks.plan import validate_file
from runbooks.sites import load_site

CASES = Path(__file__).parent / "cases"
INVALID = sorted((CASES / "invalid").glob("*.yaml"))
SITE_CASES = sorted(p for p in (CASES / "sites").iterdir() if p.is_dir())


def _render(diagnostics, base: Path) -> str:
    lines = []
    for d in diagnostics:
        rel = os.path.relpath(d.path, base)
        lines.append(f"{rel}:{d.line}:{d.col}: {d.severity}[{d.code}]: {d.message}")
        if d.hint:
            lines.append(f"   = hint: {d.hint}")
    return "\n".join(lines) + "\n"


def _check(actual: str, expected_path: Path) -> None:
    if os.environ.get("UPDATE_GOLDEN"):
        expected_path.write_text(actual)
    assert expected_path.exists(), f"no golden file {expected_path.name}; run with UPDATE_GOLDEN=1 and review"
    assert actual == expected_path.read_text()


def _site_for(case: Path):
    first = case.read_bytes().split(b"\n", 1)[0]
    if first.startswith(b"# site: "):
        return load_site(CASES.parent.parent.parent / "runbooks" / "sites" / first[8:].decode().strip())
    return None


@pytest.mark.parametrize("case", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_runbook_reports_pinned_diagnostics(case: Path):
    diagnostics = validate_file(case, _site_for(case))
    assert diagnostics, "an invalid case must produce diagnostics"
    assert all(d.line >= 1 and d.col >= 1 for d in diagnostics)
    _check(_render(diagnostics, case.parent), case.with_suffix(".out"))


@pytest.mark.parametrize("case", SITE_CASES, ids=[p.name for p in SITE_CASES])
def test_invalid_site_reports_pinned_diagnostics(case: Path):
    with pytest.raises(RunbookError) as exc:
        load_site(case)
    _check(_render(exc.value.diagnostics, case), case / "expected.out")


def test_there_are_at_least_thirty_golden_cases():
    assert len(INVALID) + len(SITE_CASES) >= 30


def test_alias_bomb_is_rejected_fast_and_in_bounded_memory():
    tracemalloc.start()
    started = time.process_time()
    diagnostics = validate_file(CASES / "invalid" / "alias_bomb.yaml")
    cpu = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [d.code for d in diagnostics] == ["RB005"]
    # Generous bounds: the expanded document would hold 10^9 values.
    assert peak < 50 * 1024 * 1024
    assert cpu < 30
