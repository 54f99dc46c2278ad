"""The documentation site builds offline with `mkdocs build --strict` (no broken link, no page
outside the navigation), its generated reference pages are current, and the README stays a
short front door that points into the site."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.doc_commands import DOCS

ROOT = DOCS.parent


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_reference", DOCS / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_reference = _load_generator()


def test_the_site_builds_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1",
                                                          "PATH": str(Path(sys.executable)
                                                                      .parent)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "students" / "scenarios" / "index.html").is_file()
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in page  # nothing fetched when the site is read offline
    assert not (tmp_path / "site" / "make_reference.py").exists()


@pytest.mark.parametrize("name", sorted(make_reference.PAGES))
def test_the_reference_pages_are_what_the_code_says(name: str) -> None:
    path = DOCS / "reference" / name
    assert path.read_text(encoding="utf-8") == make_reference.render(name), (
        "run .venv/bin/python docs/make_reference.py")


def test_the_cli_reference_has_every_command() -> None:
    from factory_cli.main import COMMANDS

    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        assert f"## `factory-sim {command}`" in text
    assert "--start WHEN" in text


def test_the_readme_is_a_short_front_door() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 150
    assert "pipx install factory-sim" in text
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / target).is_file(), target
    for folder in ("students", "integrators", "trainers"):
        assert f"docs/{folder}/" in text


def test_scripts_test_runs_the_readmes_test_command() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "scripts/test" in text
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
