"""An independent OPC UA stack drives Job Management: node-opcua (npm, pinned in
tests/interop/package.json, installed by scripts/setup) stores, starts, pauses,
resumes a job order until it ends, encoding the job order from the server's DataTypeDefinition;
the response's counts are the model's."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from factory_sim import events as ev
from tests.opcua.conftest import make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLIENT = Path(__file__).resolve().parent
CELL, JOB, VARIANT, RUNS = "press-brake", "NODE-1", "bracket", 20


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js) not found: node-opcua cannot run")
    if not (CLIENT / "node_modules" / "node-opcua-client").is_dir():
        pytest.skip("node-opcua-client not installed: run scripts/setup (needs npm)")
    return node


async def test_node_opcua_stores_starts_pauses_resumes_and_the_job_ends():
    node = _node()
    plant = make_plant()
    parts: list[ev.PartFinished] = []
    plant.subscribe(lambda e: parts.append(e) if isinstance(e, ev.PartFinished)
                    and e.order_id == JOB else None)
    server = await start_plant_server(plant)
    try:
        process = await asyncio.create_subprocess_exec(
            node, str(CLIENT / "drive_jobs.mjs"), server.endpoint, CELL, JOB, VARIANT,
            str(RUNS), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 300)
    finally:
        await server.stop()
    assert process.returncode == 0, err.decode()[-2000:]
    lines = [line for line in out.decode().splitlines() if line.startswith("RESULT ")]
    assert lines, out.decode()[-2000:] + err.decode()[-2000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["returnStatus"] == "1"  # ReturnStatus bit 0: no error
    assert result["seen"] == [["Store", 1], ["Start", 2], ["running", 3], ["Pause", 4],
                              ["Resume", 3]]
    assert result["state"] == 5  # Ended
    good = sum(p.outcome is ev.PartOutcome.GOOD for p in parts)
    scrap = sum(p.outcome is ev.PartOutcome.SCRAP for p in parts)
    assert (result["runsCompleted"], result["scrapCount"]) == (good, scrap) and good == RUNS
