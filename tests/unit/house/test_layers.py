"""The house (docs/ARCHITECTURE.md): layers import downward only, with no import circles, in
modules small enough to read.

The layer contracts live in pyproject.toml ([tool.importlinter]); this runs them as CI does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MAX_LINES = 500
PACKAGES = ("orchestrator", "scheduler", "webui")


def test_the_import_linter_contracts_hold() -> None:
    # in a process of its own: import-linter configures logging with dictConfig, which would
    # disable every logger already made in this test process
    checked = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
         "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules by concern: {long}"


def test_every_package_says_what_lives_there() -> None:
    bare = [
        str(init.relative_to(ROOT))
        for package in PACKAGES
        for init in (ROOT / package).rglob("__init__.py")
        if not init.read_text().lstrip().startswith('"""')
    ]
    assert not bare, f"give these packages a docstring (what lives there, what it may import): {bare}"
