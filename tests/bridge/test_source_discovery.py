"""Discovery against a server the bridge did not come with: which objects are machines, how
their variables are named, where they sit in the hierarchy."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from asyncua import Client

from mqtt_bridge.inputs.opcua.discovery import (
    MACHINE_IDENTIFICATION_TYPE_ID,
    MACHINERY_URI,
    MACHINES_FOLDER_ID,
    Hierarchy,
    NoMachineryError,
    discover,
    group_name,
    topic_segment,
)
from tests.bridge.machinery_server import OUTSIDE_MACHINE, MachineryServer, free_port
from tests.nodesets import require_nodesets


def test_the_official_nodeids_the_discovery_relies_on() -> None:
    path = require_nodesets() / "Opc.Ua.Machinery.NodeSet2.xml"
    root = ElementTree.parse(path).getroot()
    ns = {"ua": "http://opcfoundation.org/UA/2011/03/UANodeSet.xsd"}
    assert root.find("ua:NamespaceUris/ua:Uri", ns).text == MACHINERY_URI
    names = {n.get("NodeId"): n.get("BrowseName") for n in root.iter() if n.get("NodeId")}
    assert names[f"ns=1;i={MACHINES_FOLDER_ID}"] == "1:Machines"
    assert names[f"ns=1;i={MACHINE_IDENTIFICATION_TYPE_ID}"] == "1:MachineIdentificationType"


async def test_finds_exactly_the_machines(machinery_server: MachineryServer) -> None:
    async with Client(machinery_server.url) as client:
        machines = await discover(client, Hierarchy())
    names = sorted(m.name for m in machines)
    # Press1 and Laser1 are under Machines; Robot1 only has an Identification; the Archive
    # folder inside Machines and the Utilities object are not machines.
    assert names == sorted(["Press1", "Laser1", OUTSIDE_MACHINE])
    assert all(m.path.cell_type == "PressBrakeType" for m in machines)
    assert all(m.event_notifier for m in machines)


async def test_scan_can_be_limited_to_the_machines_folder(
    machinery_server: MachineryServer,
) -> None:
    async with Client(machinery_server.url) as client:
        machines = await discover(client, Hierarchy(), scan_objects=False)
    assert sorted(m.name for m in machines) == ["Laser1", "Press1"]


async def test_groups_and_tags_follow_the_documented_rule(
    machinery_server: MachineryServer,
) -> None:
    async with Client(machinery_server.url) as client:
        machines = await discover(client, Hierarchy())
    press = next(m for m in machines if m.name == "Press1")
    named = {(v.group, v.tag): v for v in press.variables}
    assert set(named) == {
        ("state", "CurrentState"),  # MachineryBuildingBlocks (a folder) skipped, alias
        ("counters", "PartsProducedInLifetime"),
        ("Monitoring", "Temperature"),
        ("Monitoring", "SpindleSpeed"),
        ("Monitoring", "Feed_Rate"),
        ("Monitoring", "Feed_Rate~2"),
        ("identification", "Manufacturer"),
        ("identification", "SerialNumber"),
        ("identification", "Location"),
    }
    assert named[("Monitoring", "Temperature")].node_id.to_string() == (
        machinery_server.node_id("Press1", "Temperature")
    )
    assert named[("Monitoring", "Feed_Rate~2")].node_id.to_string() == (
        machinery_server.node_id("Press1", "Feed/Rate")
    )
    historized = {key for key, v in named.items() if v.historizing}
    assert historized == {
        ("state", "CurrentState"),
        ("counters", "PartsProducedInLifetime"),
        ("Monitoring", "Temperature"),
    }


async def test_hierarchy_from_location_and_defaults(machinery_server: MachineryServer) -> None:
    async with Client(machinery_server.url) as client:
        from_location = await discover(client, Hierarchy(enterprise="acme"))
        configured = await discover(
            client, Hierarchy(enterprise="acme", site="s", area="a", line="l", use_location=False)
        )
    # The test server's Identification/Location is "Plant/Bending/Line1".
    assert from_location[0].path.topic("g", "t").startswith("acme/Plant/Bending/Line1/")
    assert configured[0].path.topic("g", "t").startswith("acme/s/a/l/")


def test_location_is_read_right_aligned_and_names_are_topic_safe() -> None:
    h = Hierarchy(enterprise="e", site="s", area="a", line="l")
    assert h.place("M 1", "T", "Line 7").topic() == "e/s/a/Line_7/M_1"
    assert h.place("m", "T", "Hall/Line7").topic() == "e/s/Hall/Line7/m"
    assert h.place("m", "T", "x/Site/Hall/Line7").topic() == "e/Site/Hall/Line7/m"
    assert h.place("m", "T", "").topic() == "e/s/a/l/m"
    assert topic_segment("a/b+c#d") == "a_b_c_d"
    assert group_name([]) == "machine"
    assert group_name(["Components", "Spindle"]) == "components.Spindle"


async def test_a_server_without_machinery_is_refused() -> None:
    server = MachineryServer(free_port(), with_machinery=False)
    server.start()
    try:
        async with Client(server.url) as client:
            with pytest.raises(NoMachineryError, match="Machinery"):
                await discover(client, Hierarchy())
    finally:
        server.stop()
