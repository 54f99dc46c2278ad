"""An integrator's own tests of their OPC UA client against factory-sim's test plant.

Copy this file into your project; with factory-sim installed (`pip install factory-sim`) the
`factory_plant` fixture is there without any conftest. Each test gets its own plant: paused
at simulated time 0, on a free port, stopped when the test ends. The marker names a shipped
scenario (`factory-sim scenarios` lists them) or a scenario file's path.

The client code under test here is the few functions at the top; yours would be imported.
"""

from __future__ import annotations

import asyncio

import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

MACHINERY = "http://opcfoundation.org/UA/Machinery/"
PLANT = "urn:factory-sim:plant"
MACHINES_FOLDER = 1001  # Objects/Machines, OPC 40001-1


# ---- the client under test (yours would be imported) ----
async def machine_names(client: Client) -> list[str]:
    machinery = await client.get_namespace_index(MACHINERY)
    folder = client.get_node(ua.NodeId(MACHINES_FOLDER, machinery))
    return sorted([(await node.read_browse_name()).Name for node in await folder.get_children()])


async def simulated_time(client: Client) -> float:
    plant = await client.get_namespace_index(PLANT)
    return await client.get_node(ua.NodeId("Simulation/SimulatedTime", plant)).read_value()


# ---- the tests ----
def test_my_client_finds_every_machine_once(factory_plant):
    async def run() -> list[str]:
        async with Client(factory_plant.endpoint, timeout=10) as client:
            return await machine_names(client)

    assert asyncio.run(run()) == ["cobot", "packing", "press-brake", "punch-laser"]


@pytest.mark.factory_plant("reference-opcua", seed=3)
def test_time_moves_only_when_the_test_steps_it(factory_plant):
    async def read() -> float:
        async with Client(factory_plant.endpoint, timeout=10) as client:
            return await simulated_time(client)

    assert asyncio.run(read()) == 0.0
    factory_plant.step(3600)
    assert factory_plant.now == 3600.0
    assert asyncio.run(read()) == 3600.0


@pytest.mark.factory_plant("reference-opcua", users={"mes": "operator"}, allow_anonymous=False)
def test_my_client_logs_in_on_an_encrypted_channel_and_anonymous_is_refused(factory_plant):
    certificate, key = factory_plant.client_certificate("my-mes")

    async def logged_in() -> list[str]:
        client = Client(factory_plant.endpoint, timeout=10)
        client.application_uri = factory_plant.application_uri("my-mes")
        await client.set_security(SecurityPolicyBasic256Sha256, str(certificate), str(key),
                                  mode=ua.MessageSecurityMode.SignAndEncrypt)
        client.set_user("mes")
        client.set_password(factory_plant.passwords["mes"])
        async with client:
            return await machine_names(client)

    async def anonymous() -> None:
        async with Client(factory_plant.endpoint, timeout=10):
            pass

    assert len(asyncio.run(logged_in())) == 4
    with pytest.raises(ua.uaerrors.BadIdentityTokenRejected):
        asyncio.run(anonymous())
