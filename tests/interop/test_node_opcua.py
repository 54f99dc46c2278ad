"""A second OPC UA stack against the server (issue 24, items 3 and 5): node-opcua-client
(pinned in tests/interop/package.json, installed by scripts/setup when npm is there) reads a
condition's fields before its first event, shelves, unshelves, disables, enables and comments
it, and checks every value under Objects/TestNodes against its DataType, ValueRank and
ArrayDimensions."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.opcua.conftest import make_plant, start_plant_server

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "check_server.mjs"

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(not (HERE / "node_modules" / "node-opcua-client").is_dir(),
                       reason="node-opcua-client is not installed: run scripts/setup (needs npm)"),
]


async def node_check(endpoint: str) -> dict:
    process = await asyncio.create_subprocess_exec(
        shutil.which("node"), str(SCRIPT), endpoint, cwd=HERE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, err.decode()[-3000:]
    lines = [line for line in out.decode().splitlines() if line.startswith("RESULT ")]
    assert lines, out.decode()[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


async def test_node_opcua_drives_a_condition_and_checks_every_test_node():
    server = await start_plant_server(make_plant(), test_nodes=True)
    try:
        result = await node_check(server.endpoint)
    finally:
        await server.stop()
    condition = result["condition"]
    assert not [path for path, value in condition.items() if value is None]
    assert condition["ActiveState"] == "Inactive" and condition["EventId"] > 0
    assert condition["LastSeverity"] == condition["Severity"]
    assert condition["ShelvingState.CurrentState"] == "Unshelved"
    assert (condition["ConfirmedState.Id"], condition["EnabledState.Id"]) == (True, True)
    assert result["calls"] == {
        "oneShotShelve": "Good", "oneShotShelveAgain": "BadConditionAlreadyShelved",
        "unshelve": "Good", "unshelveAgain": "BadConditionNotShelved",
        "disable": "Good", "enable": "Good",
        "addComment": "Good", "addCommentStaleEvent": "BadEventIdUnknown"}
    assert condition["commentAfter"] == "checked by node-opcua"
    assert result["testNodes"]["problems"] == []
    assert result["testNodes"]["checked"] > 90
