"""Objects/SimulatorView and Plant/ShiftReports: the truth the demo shows, and the honesty rule.

A real server and a real asyncua client; the plant is stepped by exact amounts.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from asyncua import Client, ua

from factory_sim import events as ev
from mqtt_bridge.inputs.opcua.discovery import find_machines
from tests.opcua.conftest import Simulation, make_plant, start_plant_server


async def _read(client: Client, ns: int, path: str):
    return await client.get_node(ua.NodeId(path, ns)).read_value()


async def test_the_view_shows_every_cells_true_state_and_the_paper_reports():
    plant = make_plant("reference-standalone")
    filed: list[ev.ShiftReportFiled] = []
    plant.subscribe(lambda e: filed.append(e) if isinstance(e, ev.ShiftReportFiled) else None)
    server = await start_plant_server(plant, simulator_view=True)
    try:
        async with Client(server.endpoint, timeout=10) as client:
            ns = server.ns.plant
            simulation = Simulation(client, ns)
            await simulation.step(14 * 3600 + 60)  # past the early shift's end (14:00)
            await simulation.step(1)  # one more tick: the KPI refresh follows events
            for cell_id in plant.cells:
                base = f"SimulatorView/Cells/{cell_id}"
                truth = plant.snapshot(cell_id)
                assert await _read(client, ns, f"{base}/GoodParts") == truth.good
                assert await _read(client, ns, f"{base}/ScrapParts") == truth.scrap
                assert await _read(client, ns, f"{base}/Activity") == truth.activity.label
                assert await _read(client, ns, f"{base}/Power") == pytest.approx(truth.power_kw)
                assert await _read(client, ns, f"{base}/Connectivity") == "standalone"
            reports = {e.cell: e for e in filed}
            assert sorted(reports) == sorted(plant.cells)  # one report per stand-alone cell
            for cell_id, report in reports.items():
                base = f"Plant/ShiftReports/{cell_id}"
                assert await _read(client, ns, f"{base}/GoodReported") == report.good_reported
                assert await _read(client, ns, f"{base}/ScrapReported") == report.scrap_reported
                truth = f"SimulatorView/Cells/{cell_id}"
                assert await _read(client, ns, f"{truth}/ShiftGoodActual") == report.good_actual
                assert await _read(client, ns, f"{truth}/ShiftDowntimeActual") == \
                    pytest.approx(report.downtime_actual_s)
                filed_at = await _read(client, ns, f"{base}/FiledAt")
                expected = plant.start + timedelta(seconds=report.time)
                assert filed_at.replace(tzinfo=UTC) == expected.replace(tzinfo=UTC)
            assert 0 < await _read(client, ns, "SimulatorView/Kpi/OEE") < 1
            positions = [await _read(client, ns, f"SimulatorView/Cells/{c}/Position")
                         for c in plant.cells]
            assert positions == list(range(len(plant.cells)))  # routing order
            # The honesty rule: the factory's model has no machine, and a bridge finds none.
            assert await find_machines(client) == []
    finally:
        await server.stop()


async def test_the_view_is_off_unless_asked_for():
    server = await start_plant_server(make_plant("reference-standalone"))
    try:
        async with Client(server.endpoint, timeout=10) as client:
            with pytest.raises(ua.uaerrors.BadNodeIdUnknown):
                await client.get_node(ua.NodeId("SimulatorView", server.ns.plant)) \
                    .read_browse_name()
    finally:
        await server.stop()


async def test_online_cells_get_no_paper_reports():
    server = await start_plant_server(make_plant("reference-opcua"), simulator_view=True)
    try:
        async with Client(server.endpoint, timeout=10) as client:
            with pytest.raises(ua.uaerrors.BadNodeIdUnknown):
                await client.get_node(ua.NodeId("Plant/ShiftReports", server.ns.plant)) \
                    .read_browse_name()
            assert len(await find_machines(client)) == 4
    finally:
        await server.stop()
