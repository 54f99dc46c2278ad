"""Fixtures of the bridge's OPC UA side: the in-test Machinery server (machinery_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bridge.machinery_server import MachineryServer, free_port


@pytest.fixture(scope="module")
def machinery_server() -> Iterator[MachineryServer]:
    """One read-mostly server per module; tests that add, remove or restart use `fresh_server`."""
    server = MachineryServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_server() -> Iterator[MachineryServer]:
    server = MachineryServer(free_port())
    server.start()
    yield server
    server.stop()
