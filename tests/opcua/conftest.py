"""Fixtures for the OPC UA server tests: real servers and clients over TCP on 127.0.0.1.

`opcua_plant_server` is ONE module-scoped server for the reference plant, started paused so
that time moves only when a test steps it; modules that need another scenario start their
own with `start_plant_server`. Tests using these fixtures need
`pytestmark = pytest.mark.asyncio(loop_scope="module")`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest_asyncio
from asyncua import Client, Server, ua

from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario
from factory_sim.shipped import shipped_scenarios_dir
from opcua_server.server import ServerSettings, SimulationServer
from tests.services import free_port

PROJECT = Path(__file__).resolve().parents[2]
SCENARIOS = shipped_scenarios_dir()
SEED = 11


def make_plant(scenario: str = "reference-opcua", seed: int = SEED, lines: int | None = None):
    return Plant(load_scenario(SCENARIOS / f"{scenario}.yaml"), seed=seed, lines=lines)


async def bare_server() -> tuple[Server, str]:
    """An initialised asyncua Server without its clock, on a free loopback port and without
    security, not yet started; with its endpoint URL."""
    server = Server()
    await server.init()
    server.disable_clock()
    url = f"opc.tcp://127.0.0.1:{free_port()}/"
    server.set_endpoint(url)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    return server, url


def event_filter(fields: Iterable[str]) -> ua.EventFilter:
    """Exactly the given fields, by browse path from ConditionType, as any client."""
    evfilter = ua.EventFilter()
    for path in fields:
        evfilter.SelectClauses.append(ua.SimpleAttributeOperand(
            TypeDefinitionId=ua.NodeId(ua.ObjectIds.ConditionType),
            AttributeId=ua.AttributeIds.Value,
            BrowsePath=[ua.QualifiedName(part, 0) for part in path.split("/")]))
    return evfilter


async def start_plant_server(plant, **settings) -> SimulationServer:
    settings.setdefault("paused", True)
    server = SimulationServer(plant, ServerSettings(port=free_port(), **settings))
    await server.start()
    return server


class Simulation:
    """The Simulation object as a client sees it: Step/Pause/Resume/SetSpeed by method call."""

    def __init__(self, client: Client, plant_ns: int) -> None:
        self.client, self.ns = client, plant_ns
        self.node = client.get_node(ua.NodeId("Simulation", plant_ns))

    def child(self, name: str):
        return self.client.get_node(ua.NodeId(f"Simulation/{name}", self.ns))

    async def call(self, name: str, *args: ua.Variant):
        return await self.node.call_method(self.child(name), *args)

    async def step(self, seconds: float) -> None:
        await self.call("Step", ua.Variant(float(seconds), ua.VariantType.Double))

    async def now(self) -> float:
        return await self.child("SimulatedTime").read_value()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def opcua_plant_server() -> AsyncIterator[SimulationServer]:
    server = await start_plant_server(make_plant())
    yield server
    await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def opcua_client(opcua_plant_server) -> AsyncIterator[Client]:
    async with Client(opcua_plant_server.endpoint, timeout=10) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simulation(opcua_client, opcua_plant_server) -> Simulation:
    return Simulation(opcua_client, opcua_plant_server.ns.plant)
