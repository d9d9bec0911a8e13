"""Imports flow one way: runbooks/ and notifications/ import no Prefect, flows or console."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["runbooks", "notifications"])
def test_lower_packages_import_neither_prefect_nor_flows_nor_console(package):
    """runbooks/ stands alone; notifications/ sits below flows (it gets the store passed in)."""
    code = (
        f"import sys, pkgutil, importlib, {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'): importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'flows', 'console', 'sqlalchemy'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_and_plan_commands_do_not_import_prefect():
    code = (
        "import sys; sys.argv = ['runbook', 'validate', 'callcenter_lockdown', '--site', 'xian']\n"
        "from console import cli\n"
        "try: cli.main()\n"
        "except SystemExit as e: code = e.code\n"
        "sys.exit(10 if 'prefect' in sys.modules else code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
