"""An independent client's walk of the whole address space (issue 24, item 6): every node's
hierarchical children, by Browse requests of many nodes each, with no child listed twice
under one parent (the machines were, by Organizes and HasNotifier)."""

from __future__ import annotations

from collections import Counter

import pytest
from asyncua import ua

from opcua_server import nodeids

pytestmark = pytest.mark.asyncio(loop_scope="module")

_BATCH = 200  # nodes per Browse request, below the server's MaxNodesPerBrowse


async def hierarchical_children(client, parents: list[ua.NodeId]) -> dict:
    """Each parent's forward hierarchical references, continuation points followed."""
    children: dict[ua.NodeId, list[ua.NodeId]] = {}
    for start in range(0, len(parents), _BATCH):
        batch = parents[start:start + _BATCH]
        params = ua.BrowseParameters(NodesToBrowse=[ua.BrowseDescription(
            NodeId=parent, BrowseDirection=ua.BrowseDirection.Forward,
            ReferenceTypeId=ua.NodeId(ua.ObjectIds.HierarchicalReferences),
            IncludeSubtypes=True, NodeClassMask=0, ResultMask=ua.BrowseResultMask.All)
            for parent in batch])
        results = await client.uaclient.browse(params)
        for parent, result in zip(batch, results, strict=True):
            assert result.StatusCode.is_good(), (parent, result.StatusCode)
            refs = list(result.References)
            point = result.ContinuationPoint
            while point:
                more = (await client.uaclient.browse_next(
                    ua.BrowseNextParameters(ContinuationPoints=[point])))[0]
                refs += more.References
                point = more.ContinuationPoint
            children[parent] = [ref.NodeId for ref in refs]
    return children


async def test_the_whole_tree_lists_no_child_twice(opcua_plant_server, opcua_client):
    seen = {ua.NodeId(ua.ObjectIds.RootFolder)}
    frontier, duplicates, visited = [ua.NodeId(ua.ObjectIds.RootFolder)], {}, 0
    while frontier:
        children = await hierarchical_children(opcua_client, frontier)
        visited += len(frontier)
        frontier = []
        for parent, nodes in children.items():
            twice = [node for node, count in Counter(nodes).items() if count > 1]
            if twice:
                duplicates[parent] = twice
            for node in nodes:
                if node not in seen:
                    seen.add(node)
                    frontier.append(node)
    assert not duplicates
    machines = ua.NodeId(nodeids.MACHINES, opcua_plant_server.ns.machinery)
    listed = (await hierarchical_children(opcua_client, [machines]))[machines]
    assert sorted(listed, key=str) == sorted(
        (m.node for m in opcua_plant_server.machines.values()), key=str)
    assert visited > 1000  # the walk reached the types and the machines' insides
