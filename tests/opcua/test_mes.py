"""`serve --jobs external` with the reference MES (factory_mes) over TCP: the plant runs only
the job orders the MES sends; one simulated week later every order the MES finished has a
job order per operation that Ended, each operation planned with the previous one's good
parts, and the model's completed orders are exactly those, with the same counts."""

from __future__ import annotations

import asyncio

import pytest
from asyncua import Client

from factory_mes.mes import ENDED, Mes
from factory_sim import events as ev
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario
from tests.opcua.conftest import SCENARIOS, SEED, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

WEEK = 7 * 86400.0
SPEED = 20_000.0  # a simulated week in about half a minute of wall time
ROUND_S = 0.05  # wall seconds between the MES's rounds (~17 simulated minutes)


async def test_the_mes_runs_one_simulated_week_of_orders():
    plant = Plant(load_scenario(SCENARIOS / "reference-opcua.yaml"), seed=SEED,
                  external_dispatch=True)
    completed: dict[str, ev.OrderCompleted] = {}
    plant.subscribe(lambda e: completed.__setitem__(e.order_id, e)
                    if isinstance(e, ev.OrderCompleted) else None)
    server = await start_plant_server(plant, paused=False, speed=SPEED)
    try:
        async with Client(server.endpoint, timeout=10) as client:
            mes = await Mes.connect(client, wip_cap=4)
            while plant.now < WEEK:
                await mes.dispatch_once()
                await asyncio.sleep(ROUND_S)
    finally:
        await server.stop()
    finished = {k: p for k, p in mes.history.items() if p.finished}
    assert len(finished) >= 10, f"only {len(finished)} orders in a simulated week"
    for order_id, progress in finished.items():
        assert [op.cell for op in progress.operations] == progress.routing
        planned = None
        for operation in progress.operations:
            assert operation.state == ENDED, order_id
            if planned is not None:
                assert operation.runs_planned == planned, order_id
            planned = operation.runs_completed
        # the model completed the order with the last operation's good parts
        assert completed[order_id].quantity == progress.operations[-1].runs_completed
    assert set(completed) <= set(mes.history)  # nothing ran that the MES did not dispatch
    assert sum(1 for p in mes.history.values() if not p.finished) <= 4  # the WIP cap
