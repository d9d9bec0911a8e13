"""Shared fixtures: paths to the shipped library and sites, a writer for throwaway runbooks."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "runbooks" / "library"
SITES = ROOT / "runbooks" / "sites"


@pytest.fixture
def write_runbook(tmp_path):
    """Write a runbook (a dict or YAML text) to a file and return its path."""
    def write(content, name: str = "rb.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path
    return write


@pytest.fixture(scope="session")
def xian():
    from runbooks.sites import load_site
    return load_site(SITES / "xian")


@pytest.fixture(scope="session")
def beijing():
    from runbooks.sites import load_site
    return load_site(SITES / "beijing")
