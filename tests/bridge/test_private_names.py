"""Access to a dependency's private internals lives in the version-checked adapters only, and
library code changes nothing process-wide (issue 23, item 1)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = ("opcua_server/asyncua_adapter/", "mqtt_bridge/inputs/opcua/asyncua_adapter.py")
# `thing._name` where `thing` is not the object's own self or class
PRIVATE = re.compile(r"(?<![\w.])(?!self\b|cls\b)[a-z_]\w*\._[a-z]\w*")
PROCESS_WIDE = re.compile(r"sqlite3\.register_(converter|adapter)")


def sources() -> list[Path]:
    return [p for package in ("mqtt_bridge", "opcua_server") for p in (ROOT / package).rglob("*.py")
            if not str(p.relative_to(ROOT)).startswith(ADAPTERS)]


def test_no_private_name_of_a_dependency_outside_the_adapters() -> None:
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in sources()
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if PRIVATE.search(line.split("#")[0])]
    assert not found, "\n".join(found)


def test_library_code_registers_no_sqlite_converter() -> None:
    found = [str(p.relative_to(ROOT)) for package in ("mqtt_bridge", "opcua_server")
             for p in (ROOT / package).rglob("*.py") if PROCESS_WIDE.search(p.read_text())]
    assert not found, found


def test_no_module_of_the_input_imports_the_journal() -> None:
    """Inputs hand items on and receive drop reports (`mqtt_bridge.drop_report`); the journal
    is the outputs' and the app's business."""
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "mqtt_bridge/inputs").rglob("*.py")
             if re.search(r"^\s*(from mqtt_bridge(\.journal| import journal)|import "
                          r"mqtt_bridge\.journal)", p.read_text(), re.MULTILINE)]
    assert not found, found
