"""Library stage: a runbook or site named by path or by id → its file or directory.

Ids are looked up in the shipped `runbooks/library/` and `runbooks/sites/` plus the directories
in `RUNBOOK_LIBRARY` and `RUNBOOK_SITES` (each `os.pathsep`-separated).
"""

from __future__ import annotations

import os
from pathlib import Path

from .diagnostics import did_you_mean

HERE = Path(__file__).parent


class NotFound(Exception):
    """A runbook or site id that no library directory holds."""


def _dirs(shipped: Path, variable: str) -> list[Path]:
    extra = [Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p]
    return [shipped, *extra]


def library_dirs() -> list[Path]:
    return _dirs(HERE / "library", "RUNBOOK_LIBRARY")


def site_dirs() -> list[Path]:
    return _dirs(HERE / "sites", "RUNBOOK_SITES")


def runbook_files() -> dict[str, Path]:
    """id (file stem) → path; earlier directories win."""
    found: dict[str, Path] = {}
    for d in library_dirs():
        for p in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
            found.setdefault(p.stem, p)
    return found


def site_directories() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in site_dirs():
        for p in sorted(d.glob("*/site.yaml")):
            found.setdefault(p.parent.name, p.parent)
    return found


def find_runbook(name: str, *, allow_path: bool = True) -> Path:
    if allow_path and (os.sep in name or name.endswith((".yaml", ".yml"))):
        return Path(name)
    files = runbook_files()
    if name in files:
        return files[name]
    hint = did_you_mean(name, files)
    raise NotFound(
        f'no runbook "{name}" in the library' + (f"; {hint}" if hint else f" (known: {', '.join(files) or 'none'})")
    )


def find_site(name: str, *, allow_path: bool = True) -> Path:
    if allow_path and (os.sep in name or Path(name, "site.yaml").is_file()) and Path(name).is_dir():
        return Path(name)
    dirs = site_directories()
    if name in dirs:
        return dirs[name]
    hint = did_you_mean(name, dirs)
    raise NotFound(f'no site "{name}"' + (f"; {hint}" if hint else f" (known: {', '.join(dirs) or 'none'})"))
