"""Imports flow one way: runbooks/ stands alone (no Prefect, no flows, no console)."""
from __future__ import annotations

import subprocess
import sys


def test_runbooks_imports_neither_prefect_nor_flows_nor_console():
    code = (
        "import sys, pkgutil, importlib, runbooks\n"
        "for m in pkgutil.walk_packages(runbooks.__path__, 'runbooks.'): importlib.import_module(m.name)\n"
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


def test_notifications_import_neither_flows_nor_console_nor_prefect():
    code = (
        "import sys, pkgutil, importlib, notifications\n"
        "for m in pkgutil.walk_packages(notifications.__path__, 'notifications.'): importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'flows', 'console', 'sqlalchemy'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
