"""The server as a library changes nothing process-wide; `factory-sim serve` opts in to the
asyncua speed-ups and GC tuning (factory_cli.tuning) and undoes both when it stops."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import asyncua
import pytest
from asyncua import Client, ua

from factory_cli.main import build_parser
from factory_cli.tuning import GC_THRESHOLDS
from factory_sim.scenario import load_scenario
from opcua_server import asyncua_adapter
from opcua_server.asyncua_adapter import SPEEDUPS
from opcua_server.history import HistorySettings
from tests.opcua.conftest import SCENARIOS, Simulation, make_plant, start_plant_server
from tests.services import free_port


def asyncua_attributes() -> dict[tuple[str, str], int]:
    """The identity of every function, class and method of asyncua's modules: what a patch
    replaces (counters and caches that asyncua itself updates are left out)."""
    seen: dict[tuple[str, str], int] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("asyncua") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if _code(value):
                seen[(name, attr)] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for cls_attr, member in list(vars(value).items()):
                    if _code(member):
                        seen[(f"{name}.{attr}", cls_attr)] = id(member)
    return seen


def _code(value: object) -> bool:
    return callable(value) or isinstance(value, property | staticmethod | classmethod)


def process_state() -> tuple:
    return gc.get_threshold(), gc.get_freeze_count(), gc.isenabled(), SPEEDUPS.installed()


def changed(before: dict, after: dict) -> list:
    return sorted(key for key in before if key in after and before[key] != after[key])


async def test_the_server_as_a_library_changes_no_asyncua_attribute_and_no_gc_setting():
    attributes, state = asyncua_attributes(), process_state()
    server = await start_plant_server(make_plant(), history=HistorySettings())
    try:
        async with Client(server.endpoint, timeout=10) as client:
            handler = _Counter()
            subscription = await client.create_subscription(50, handler)
            await subscription.subscribe_data_change(
                [client.get_node(node) for node in _machine_variables(server)[:50]])
            await subscription.subscribe_events(client.get_node(ua.ObjectIds.Server))
            await Simulation(client, server.ns.plant).step(7 * 3600)
            while handler.count < 50:
                await asyncio.sleep(0.05)
            assert changed(attributes, asyncua_attributes()) == []
            assert process_state() == state
    finally:
        await server.stop()
    assert changed(attributes, asyncua_attributes()) == []
    assert process_state() == state


async def test_serve_opts_in_while_it_runs_and_undoes_it_on_stop():
    from factory_cli.commands.serve import _serve

    attributes, state = asyncua_attributes(), process_state()
    assert not SPEEDUPS.installed()
    port = free_port()
    args = build_parser().parse_args(
        ["serve", str(SCENARIOS / "reference-opcua.yaml"), "--port", str(port), "--paused"])
    stop = asyncio.Event()
    serving = asyncio.create_task(_serve(args, load_scenario(Path(args.scenario)), stop))
    try:
        while gc.get_freeze_count() == 0 and not serving.done():  # frozen once it listens
            await asyncio.sleep(0.05)
        async with Client(f"opc.tcp://127.0.0.1:{port}/factory-sim/", timeout=10) as client:
            await client.nodes.server_state.read_value()
            assert SPEEDUPS.installed()
            assert gc.get_threshold() == GC_THRESHOLDS and gc.get_freeze_count() > 0
            assert changed(attributes, asyncua_attributes()) != []  # what the opt-in patches
    finally:
        stop.set()
        assert await serving == 0
    assert changed(attributes, asyncua_attributes()) == []
    assert process_state() == state


def test_an_asyncua_the_adapter_does_not_know_keeps_its_own_code(monkeypatch):
    monkeypatch.setattr(asyncua, "__version__", "2.2.0")
    attributes = asyncua_attributes()
    assert not asyncua_adapter.version_known()
    assert SPEEDUPS.install() is False
    assert changed(attributes, asyncua_attributes()) == []


@pytest.mark.parametrize("part", SPEEDUPS.parts, ids=lambda part: part.__name__)
def test_each_speedup_recognises_the_installed_asyncua(part):
    assert part.supported()


class _Counter:
    count = 0

    def datachange_notification(self, node, value, data) -> None:
        self.count += 1

    def event_notification(self, event) -> None:
        pass


def _machine_variables(server) -> list[ua.NodeId]:
    aspace = server.server.iserver.aspace
    return [nodeid for nodeid in list(aspace.keys())
            if nodeid.NamespaceIndex == server.ns.plant
            and aspace.read_attribute_value(nodeid, ua.AttributeIds.NodeClass).Value.Value
            == ua.NodeClass.Variable]
