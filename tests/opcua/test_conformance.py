"""Every node the server puts in an official namespace matches the official nodeset.

The project defines its companion-spec types in its own code (opcua_server/types); this test
reads the published nodesets (reference data, never part of the project; found through
`tests.nodesets`) and checks each such node of a running server: NodeClass, BrowseName, type
definition (objects, variables), supertype (types), DataType (variables), and the parent the
spec declares it under.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from asyncua import ua

from opcua_server import namespaces
from tests.nodesets import require_nodesets

pytestmark = pytest.mark.asyncio(loop_scope="module")

UA = "http://opcfoundation.org/UA/"
_XML = {"u": "http://opcfoundation.org/UA/2011/03/UANodeSet.xsd"}
_NODE_CLASSES = {
    "UAObject": ua.NodeClass.Object, "UAVariable": ua.NodeClass.Variable,
    "UAObjectType": ua.NodeClass.ObjectType, "UAVariableType": ua.NodeClass.VariableType,
    "UADataType": ua.NodeClass.DataType, "UAMethod": ua.NodeClass.Method,
    "UAReferenceType": ua.NodeClass.ReferenceType,
}
HAS_TYPE_DEFINITION = ua.NodeId(ua.ObjectIds.HasTypeDefinition)
HAS_SUBTYPE = ua.NodeId(ua.ObjectIds.HasSubtype)

Ref = tuple[str, object]  # (namespace URI, identifier)


@dataclass(frozen=True)
class SpecNode:
    node_class: ua.NodeClass
    browse_name: Ref
    type_definition: Ref | None
    supertype: Ref | None
    data_type: Ref | None
    parent: Ref | None
    mandatory: bool = False  # ModellingRule Mandatory (an instance declaration)


def _ref(text: str, uris: list[str], aliases: dict[str, str]) -> Ref:
    text = aliases.get(text, text)
    index, ident = 0, text
    if text.startswith("ns="):
        head, ident = text.split(";", 1)
        index = int(head[3:])
    kind, value = ident.split("=", 1)
    return uris[index], int(value) if kind == "i" else value


def load_nodesets(folder: Path) -> dict[Ref, SpecNode]:
    nodes: dict[Ref, SpecNode] = {}
    for path in sorted(folder.glob("*.xml")):
        root = ET.parse(path).getroot()
        uris = [UA, *(u.text for u in root.find("u:NamespaceUris", _XML))]
        model = uris[1]
        aliases = {a.get("Alias"): a.text for a in root.find("u:Aliases", _XML) or []}
        for element in root:
            tag = element.tag.split("}")[1]
            if tag not in _NODE_CLASSES:
                continue
            nodeid = _ref(element.get("NodeId"), uris, aliases)
            if nodeid[0] != model:
                continue
            bn = element.get("BrowseName")
            bn_index, bn_name = (int(bn.split(":", 1)[0]), bn.split(":", 1)[1]) if ":" in bn \
                else (0, bn)
            typedef = supertype = parent = None
            mandatory = False
            for ref in element.find("u:References", _XML) or []:
                kind = ref.get("ReferenceType")
                forward = ref.get("IsForward", "true") != "false"
                if kind == "HasModellingRule":
                    mandatory = ref.text.strip() == "i=78"
                elif kind == "HasTypeDefinition":
                    typedef = _ref(ref.text, uris, aliases)
                elif kind == "HasSubtype" and not forward:
                    supertype = _ref(ref.text, uris, aliases)
            if element.get("ParentNodeId"):
                parent = _ref(element.get("ParentNodeId"), uris, aliases)
            datatype = element.get("DataType")
            nodes[nodeid] = SpecNode(
                _NODE_CLASSES[tag], (uris[bn_index], bn_name), typedef, supertype,
                _ref(datatype, uris, aliases) if datatype else None, parent, mandatory,
            )
    return nodes


@pytest.fixture(scope="module")
def spec_nodes() -> dict[Ref, SpecNode]:
    return load_nodesets(require_nodesets())


async def test_every_node_in_an_official_namespace_matches_the_spec(spec_nodes,
                                                                    opcua_plant_server):
    server = opcua_plant_server.server
    uris = await server.get_namespace_array()
    aspace = server.iserver.aspace
    official = {i for i, uri in enumerate(uris) if uri in namespaces.OFFICIAL}

    def uri_ref(nodeid: ua.NodeId) -> Ref:
        return uris[nodeid.NamespaceIndex], nodeid.Identifier

    def attr(nodeid, attribute):
        return aspace.read_attribute_value(nodeid, attribute).Value.Value

    checked, problems = [], []
    for nodeid in list(aspace.keys()):
        if nodeid.NamespaceIndex not in official:
            continue
        ref = uri_ref(nodeid)
        spec = spec_nodes.get(ref)
        if spec is None:
            problems.append(f"{ref}: not in the official nodeset")
            continue
        checked.append(ref)
        node_class = ua.NodeClass(attr(nodeid, ua.AttributeIds.NodeClass))
        browse_name = attr(nodeid, ua.AttributeIds.BrowseName)
        refs = aspace[nodeid].references
        typedefs = [uri_ref(r.NodeId) for r in refs
                    if r.IsForward and r.ReferenceTypeId == HAS_TYPE_DEFINITION]
        supertypes = [uri_ref(r.NodeId) for r in refs
                      if not r.IsForward and r.ReferenceTypeId == HAS_SUBTYPE]
        parents = {uri_ref(r.NodeId) for r in refs if not r.IsForward}
        found = {
            "NodeClass": node_class,
            "BrowseName": (uris[browse_name.NamespaceIndex], browse_name.Name),
            "TypeDefinition": typedefs[0] if typedefs else None,
            "Supertype": supertypes[0] if supertypes else None,
        }
        expected = {"NodeClass": spec.node_class, "BrowseName": spec.browse_name,
                    "TypeDefinition": spec.type_definition, "Supertype": spec.supertype}
        if node_class == ua.NodeClass.Variable:
            found["DataType"] = uri_ref(attr(nodeid, ua.AttributeIds.DataType))
            expected["DataType"] = spec.data_type
        for key, value in expected.items():
            if found[key] != value:
                problems.append(f"{ref} {spec.browse_name[1]}: {key} is {found[key]}, "
                                f"the spec says {value}")
        if spec.parent is not None and spec.parent not in parents:
            problems.append(f"{ref} {spec.browse_name[1]}: not under {spec.parent} as in the spec")
    assert not problems, "\n".join(problems)
    machinery = namespaces.MACHINERY
    # the check is not vacuous: the building blocks the machines rely on were all checked
    for ident in (1001, 1002, 1004, 1008, 1009, 1012, 5004, 5005, 5006, 5007, 5024, 5027):
        assert (machinery, ident) in checked
    assert (namespaces.LASER_SYSTEMS, 1009) in checked
    for ident in (5, 14, 36, 69, 119, 120):  # Execute state, PackMLCountDataType and co.
        assert (namespaces.PACKML, ident) in checked
    assert (namespaces.ROBOTICS, 1013) in checked
    assert (namespaces.DI, 1005) in checked
    # Job Management: receiver, provider, event type, structures, states, methods
    for ident in (1002, 1003, 1006, 3003, 3006, 3008, 3013, 3015, 5014, 5035, 5040, 7001,
                  7013, 7014, 6040, 6088):
        assert (namespaces.ISA95_JOB_CONTROL, ident) in checked
    for ident in (1003, 3006, 3009, 3012, 3021, 5001, 5002):
        assert (namespaces.MACHINERY_JOBS, ident) in checked


async def test_machine_state_ids_point_to_the_spec_state_objects(spec_nodes, opcua_plant_server,
                                                                 simulation):
    await simulation.step(7 * 3600)  # into the early shift: machines are working
    server = opcua_plant_server.server
    uris = await server.get_namespace_array()
    for machine in opcua_plant_server.machines.values():
        state_id = await server.get_node(
            ua.NodeId(f"{machine.item_state.Identifier}/Id", machine.item_state.NamespaceIndex)
        ).read_value()
        name = await server.get_node(machine.item_state).read_value()
        spec = spec_nodes[(uris[state_id.NamespaceIndex], state_id.Identifier)]
        assert spec.parent == (namespaces.MACHINERY, 1002)  # a MachineryItemState state
        assert spec.browse_name[1] == name.Text
