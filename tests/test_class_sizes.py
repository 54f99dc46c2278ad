"""The house rule (project brief): no class of 300 lines or more, in any package or test helper,
so that each part stays readable; split a class by concern before it grows past it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("factory_sim", "opcua_server", "mqtt_bridge", "dashboard", "factory_cli",
            "factory_mes", "bounded_yaml", "tests")
MAX_LINES = 300


def class_sizes(min_lines: int = MAX_LINES) -> dict[str, int]:
    """`path:line Class` -> its length in lines (decorators excluded), for every class in a
    file of at least `min_lines` lines (a shorter file cannot hold a longer class; parsing
    only the long ones keeps the test fast)."""
    sizes = {}
    for package in PACKAGES:
        paths = sorted((ROOT / package).rglob("*.py"))
        assert paths, f"no Python files in {package}: the path is wrong"
        for path in paths:
            source = path.read_text(encoding="utf-8")
            if source.count("\n") + 1 < min_lines:
                continue
            for node in ast.walk(ast.parse(source, str(path))):
                if isinstance(node, ast.ClassDef):
                    where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    sizes[where] = node.end_lineno - node.lineno + 1
    return sizes


def test_no_class_is_300_lines_or_longer() -> None:
    sizes = class_sizes()
    assert sizes, "no class in any file of 300 lines or more: the paths are wrong"
    too_long = sorted((lines, where) for where, lines in sizes.items() if lines >= MAX_LINES)
    assert not too_long, (f"classes of {MAX_LINES} lines or more (split them by concern): "
                          + "; ".join(f"{where} ({lines} lines)" for lines, where in too_long))
