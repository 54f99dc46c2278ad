"""The bridge's house rule (issue 23): no class over 300 lines, so each part stays readable."""

from __future__ import annotations

import ast
from pathlib import Path

BRIDGE = Path(__file__).resolve().parents[2] / "mqtt_bridge"
MAX_LINES = 300


def test_no_class_in_the_bridge_is_300_lines_or_longer() -> None:
    sizes = {}
    for path in BRIDGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                where = f"{path.relative_to(BRIDGE.parent)}:{node.name}"
                sizes[where] = node.end_lineno - node.lineno + 1
    assert sizes, "no classes found: the path is wrong"
    too_long = {where: lines for where, lines in sizes.items() if lines >= MAX_LINES}
    assert not too_long, f"classes of {MAX_LINES} lines or more: {too_long}"
