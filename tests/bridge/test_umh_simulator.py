"""The UMH output on the simulator's plant, read over OPC UA by the unchanged bridge: every
message follows UMH's rules, and the `_analytics` messages say what the model did (its event
log, from a second plant with the same seed run to the same time): the states of every cell,
the shifts of the calendar, the job orders and the parts made."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import timedelta

from asyncua import Client

from factory_sim import events as ev
from factory_sim.kpi import KpiAccounting
from mqtt_bridge.config import load
from mqtt_bridge.outputs.umh import states
from mqtt_bridge.outputs.umh.topics import location
from mqtt_bridge.sample import MachinePath
from opcua_server.plant_object import sorted_shifts
from tests.bridge.bridges import running
from tests.bridge.test_umh_sink import delivered
from tests.bridge.umh_contract import check
from tests.opcua.conftest import Simulation, make_plant, start_plant_server
from tests.services import MqttRecorder

STEPS = [21600.0] + [1800.0] * 4  # off shift to 06:00, then two hours of the early shift
NODES = """
[[nodes]]
browse_path = "Plant/CurrentShift"
topic = "plant"
group = "CurrentShift"
"""


def where(cell: str) -> str:
    return location(MachinePath("factory", "plant-1", "fabrication", "line-1", cell, ""))


async def test_analytics_say_what_the_model_did(mosquitto, tmp_path) -> None:
    server = await start_plant_server(make_plant("reference-opcua"))
    recorder = MqttRecorder(mosquitto, "umh/#")
    (tmp_path / "bridge.toml").write_text(NODES)
    config = load(
        {("opcua", "url"): server.endpoint, ("umh", "url"): mosquitto.url,
         ("umh", "state_variable"): "Monitoring/Activity", ("hierarchy", "site"): "plant-1",
         ("hierarchy", "area"): "fabrication", ("hierarchy", "line"): "line-1",
         ("opcua", "publishing_interval"): 50.0, ("", "state_dir"): str(tmp_path / "state")},
        str(tmp_path / "bridge.toml"), env={},
    )
    now = 0.0
    try:
        async with running(config) as bridge:
            cells = sorted(m.name for m in bridge.source.machines.values() if m.name != "plant")
            async with Client(server.endpoint, timeout=10) as client:
                simulation = Simulation(client, server.ns.plant)
                for seconds in STEPS:
                    await simulation.step(seconds)
                    now += seconds
            plant, log, label = make_plant("reference-opcua"), [], {}
            plant.subscribe(log.append)
            kpis = KpiAccounting(planned_cycle_time=plant.planned_cycle_time,
                                 cells=list(plant.cells))
            plant.subscribe(kpis)
            plant.run(now)
            expected = defaultdict(list)  # cell -> (UMH state, start) of each activity
            for event in log:
                if isinstance(event, ev.StateChanged) and (
                        not expected[event.cell] or event.activity.label != label[event.cell]):
                    label[event.cell] = event.activity.label
                    expected[event.cell].append((states.TABLES["Monitoring/Activity"][
                        event.activity.label], ms(plant, event.time)))

            def complete(messages) -> bool:  # every cell's last activity has arrived
                last = {}
                for m in messages:
                    if m.topic.endswith("/_analytics/state/add"):
                        last[m.topic] = m.json()["start_time_unix_ms"]
                return all(last.get(f"{where(c)}/_analytics/state/add") == expected[c][-1][1]
                           for c in cells)

            messages = await asyncio.to_thread(recorder.wait_until, complete, 60)
            assert await bridge.sinks[0].flush(timeout=30)
            await asyncio.sleep(0.5)
            messages = list(recorder.messages)
    finally:
        recorder.close()
        await server.stop()

    analytics = defaultdict(list)  # (location, message) -> documents in arrival order
    for message in messages:
        contract, path, document = check(message.topic, message.payload)  # UMH's rules
        if contract == "_analytics":
            analytics[(message.topic.split("/_analytics/")[0], path)].append(document)
    assert all(numbers for numbers in delivered(messages).values())  # seq checked per series

    for cell in cells:
        seen = [(d["state"], d["start_time_unix_ms"])
                for d in analytics[(where(cell), "state/add")]]
        assert len(expected[cell]) > 5 and seen == expected[cell], cell
    # the time in each UMH state adds up to the KPI accounting's time in its activities (what
    # `factory-sim compare` reports its availability from), to the millisecond per change
    table = states.TABLES["Monitoring/Activity"]
    for cell_kpis in kpis.report(now).cells:
        seen = expected[cell_kpis.cell] + [(None, ms(plant, now))]
        in_state = defaultdict(int)
        for (code, start), (_next, end) in itertools.pairwise(seen):
            in_state[code] += end - start
        accounted = defaultdict(float)
        for activity, seconds in cell_kpis.state_times_s.items():
            accounted[table[activity]] += seconds * 1000
        assert set(in_state) <= set(accounted), cell_kpis.cell
        for code, total in accounted.items():
            assert abs(in_state[code] - total) <= len(seen), (cell_kpis.cell, code)

    shifts = [(ms(plant, start), ms(plant, end))
              for start, end in _until(sorted_shifts(plant.calendar), now)]
    assert shifts, "the run covers a shift start"
    assert [(d["start_time_unix_ms"], d["end_time_unix_ms"])
            for d in analytics[(where("plant"), "shift/add")]] == shifts

    made = defaultdict(lambda: [0, 0])  # cell -> [good, scrap] in the model
    for event in log:
        if isinstance(event, ev.PartFinished) and event.outcome is not ev.PartOutcome.REWORK:
            made[event.cell][event.outcome is ev.PartOutcome.SCRAP] += 1
    for cell in cells:
        products = analytics[(where(cell), "product/add")]
        good = sum(d["quantity"] for d in products if "bad_quantity" not in d)
        scrap = sum(d["bad_quantity"] for d in products if "bad_quantity" in d)
        assert [good, scrap] == made[cell], cell
    assert sum(good for good, _ in made.values()) > 0

    orders = {e.job_order_id: e for e in log if isinstance(e, ev.JobOrderChanged)}
    reached = defaultdict(set)  # job order -> the states it reached in the model
    for event in log:
        if isinstance(event, ev.JobOrderChanged):
            reached[event.job_order_id].add(int(event.state))
    created = [d for (_w, name), docs in analytics.items() if name == "work-order/create"
               for d in docs]
    assert created, "the office dispatched job orders over Job Management"
    for document in created:
        order = orders[document["external_work_order_id"]]
        assert document["product"] == {"external_product_id": order.variant}
        assert document["quantity"] == order.runs_planned
    stops = 0
    for (_where, name), documents in analytics.items():
        if name in ("work-order/start", "work-order/stop"):
            wanted = {3} if name.endswith("start") else {5, 6}  # Running; Ended or Aborted
            stops += name.endswith("stop") * len(documents)
            for document in documents:
                assert reached[document["external_work_order_id"]] & wanted, document
    assert stops, "job orders ended in the run"


def ms(plant, seconds: float) -> int:
    return int((plant.start + timedelta(seconds=seconds)).timestamp() * 1000)


def _until(shifts, now: float):
    for start, end in shifts:
        if start > now:
            return
        yield start, end
