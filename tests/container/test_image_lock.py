"""deploy/image/constraints.txt, the image's pinned Python dependencies, is current: resolving
pyproject.toml's dependencies with it as constraints installs exactly the pinned set."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.stack.compose import ROOT

LOCK_IMAGE = ROOT / "scripts/lock-image"


def test_the_image_lock_is_current() -> None:
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the image's lock is resolved for Python 3.11, the image's Python")
    result = subprocess.run([sys.executable, str(LOCK_IMAGE), "--check"], capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("lock-image: deploy/image/constraints.txt is current (")


def test_a_stale_lock_is_named_with_what_differs(tmp_path) -> None:
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("lock_image", str(LOCK_IMAGE))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("lock_image", loader))
    loader.exec_module(module)
    pins = module.read()
    assert {"asyncua", "nicegui", "paho-mqtt", "simpy"} <= set(pins)  # demo's included
    lock = tmp_path / "constraints.txt"
    module.write(pins, lock)
    assert module.read(lock) == pins
    assert module.staleness(pins, dict(pins)) is None
    stale = {k: v for k, v in pins.items() if k != "simpy"} | {"left-pad": "1.0"}
    assert module.staleness(stale, pins) == (
        f"not needed left-pad; not pinned simpy=={pins['simpy']}")
    assert module.staleness(pins | {"numpy": "1.0"}, pins) == (
        f"not needed none; not pinned numpy=={pins['numpy']}")
