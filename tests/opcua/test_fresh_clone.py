"""A clone of the repository in an empty folder passes its tests: those that need the official
nodesets (tests.nodesets) skip with one line saying how to get them, none fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.nodesets import ENV_VAR, HOW_TO_GET, PROJECT

NODESET_TESTS = ["tests/opcua/test_conformance.py", "tests/bridge/test_source_discovery.py"]


def test_a_clone_in_an_empty_folder_passes_the_nodeset_tests(tmp_path):
    if shutil.which("git") is None or not (PROJECT / ".git").exists():
        pytest.skip("needs git and a git checkout of the project")
    clone = tmp_path / "empty" / "x"  # no ../shared beside it
    subprocess.run(["git", "clone", "--quiet", str(PROJECT), str(clone)], check=True,
                   capture_output=True, timeout=120)
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *NODESET_TESTS],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert "skipped" in summary and "failed" not in summary and "error" not in summary, summary
    assert HOW_TO_GET in result.stdout
