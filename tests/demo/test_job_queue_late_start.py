"""A dashboard that starts after the plant (issue 20): its job queues start from each cell's
JobOrderList on the unified namespace, equal to what the server lists, then follow the job
order changes.

Everything is real: the simulator's OPC UA server (the `factory_plant` fixture, paused and
stepped), the bridge as its own process (tag mode: the list is retained), Mosquitto, and the
dashboard's own UNS consumer (paho) connecting only once the plant has run; the server's
JobOrderList is read over OPC UA as any client reads it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from asyncua import Client, ua

from dashboard.job_queue import MAX_JOB_ORDERS
from dashboard.state import PlantState
from dashboard.uns import UnsConsumer
from tests.services import MqttRecorder
from tests.stack.processes import log_tails, start, stop

PLANT = "late"
CELLS = ("punch-laser", "press-brake", "cobot", "packing")
LIST_TOPIC = "JobManagement.JobOrderControl/JobOrderList"
JOBS = "MachineryBuildingBlocks/JobManagement"
SETTLE_S = 90  # two cores, test workers beside


async def server_lists(endpoint: str) -> dict[str, dict[str, tuple]]:
    """cell -> JobOrderID -> (StateNumber, variant, RunsPlanned), from JobOrderList."""
    async with Client(endpoint, timeout=60) as client:
        await client.load_data_type_definitions()
        plant = await client.get_namespace_index("urn:factory-sim:plant")
        out: dict[str, dict[str, tuple]] = {}
        for cell in CELLS:
            entries = await client.get_node(ua.NodeId(
                f"{cell}/{JOBS}/JobOrderControl/JobOrderList", plant)).read_value()
            out[cell] = {}
            for entry in entries or []:
                order = entry.JobOrder
                runs = next(p.Value.Value for p in order.JobOrderParameters
                            if p.ID == "RunsPlanned")
                out[cell][order.JobOrderID] = (entry.State[0].StateNumber,
                                               order.MaterialRequirements[0].MaterialDefinitionID,
                                               runs)
        return out


def queues(plant: PlantState) -> dict[str, dict[str, tuple]]:
    return {cell: {row.job_order_id: (row.state_number, row.variant, row.planned)
                   for row in plant.jobs.rows(cell)} for cell in CELLS}


def drained_until(uns: UnsConsumer, done, timeout: float = SETTLE_S) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        uns.drain()
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


@pytest.mark.factory_plant("reference-opcua", seed=11)
def test_a_dashboard_started_after_the_plant_shows_the_cells_job_order_lists(
    factory_plant, mosquitto, tmp_path: Path
) -> None:
    factory_plant.step(8 * 3600)  # Monday 08:00: the office has dispatched, cells have run
    recorder = MqttRecorder(mosquitto, f"{PLANT}/#")
    bridge = start(["bridge", "--opcua", factory_plant.endpoint, "--mqtt", mosquitto.url,
                    "--topic-prefix", f"{PLANT}/", "--client-id", "bridge-late",
                    "--state-dir", str(tmp_path / "state"), "--publishing-interval", "50"],
                   tmp_path / "bridge.log")
    plant = PlantState(PLANT, factory_plant.endpoint)
    uns = UnsConsumer(mosquitto.url, {PLANT: plant}, client_id="late-dashboard")
    try:
        recorder.wait_until(lambda messages: {m.topic.split("/")[-3] for m in messages
                                              if m.topic.endswith(LIST_TOPIC)} >= set(CELLS),
                            SETTLE_S)
        expected = asyncio.run(server_lists(factory_plant.endpoint))
        assert all(expected.values()), expected  # every cell holds job orders by now
        assert all(len(listed) <= MAX_JOB_ORDERS for listed in expected.values())
        # the job order events so far went out before this consumer existed (not retained)
        uns.start()
        assert drained_until(uns, lambda: queues(plant) == expected), (queues(plant), expected)
        assert uns.rejected == 0
        rows = [row for cell in CELLS for row in plant.jobs.rows(cell)]
        assert not any(row.from_event for row in rows)

        # then it follows the changes: the events bring states and counts, the list the rest
        factory_plant.step(4 * 3600)  # to noon: job orders start and end
        expected = asyncio.run(server_lists(factory_plant.endpoint))

        def followed() -> list:
            return [row for cell in CELLS for row in plant.jobs.rows(cell) if row.from_event]

        assert drained_until(uns, lambda: queues(plant) == expected and followed()), \
            (queues(plant), expected)
        assert all(row.good is not None for row in followed()), followed()
        assert uns.rejected == 0
    finally:
        uns.stop()
        stop([bridge])
        recorder.close()
    assert "Traceback" not in (tmp_path / "bridge.log").read_text(), log_tails(tmp_path)
