"""The dashboard's plant state: UNS messages and the simulator's view kept apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboard.state import PlantState
from dashboard.uns_messages import AlarmEvent, RejectedMessage, TagValue

CELL = ["factory", "plant-1", "fabrication", "line-1", "press-brake"]


def value(v, source="2026-01-05T06:00:00Z", server="2026-12-01T10:00:00Z"):
    return TagValue.model_validate({"value": v, "sourceTimestamp": source,
                                    "serverTimestamp": server, "status": "Good"})


def test_a_cell_on_the_uns_is_shown_from_the_uns_not_from_the_simulator():
    plant = PlantState("p", "opc.tcp://x")
    plant.apply_opcua(("cell", "press-brake", "ItemState"), "OutOfService")
    assert not plant.cells["press-brake"].is_live
    assert plant.cells["press-brake"].shown()["state"] == "OutOfService"
    plant.apply_uns([*CELL, "state", "CurrentState"], value("Executing"))
    cell = plant.cells["press-brake"]
    assert cell.is_live and cell.shown()["state"] == "Executing"
    assert cell.truth["state"] == "OutOfService"  # kept, but not what the tile shows


def test_a_part_drawn_per_cell_is_rebuilt_only_when_a_cell_appears_or_moves():
    from dashboard.widgets import CellsLayout

    plant = PlantState("p", "opc.tcp://x")
    rebuilt: list[list[str]] = []
    layout = CellsLayout(plant, lambda cells: rebuilt.append([c.name for c in cells]))
    plant.apply_opcua(("cell", "packing", "Position"), 4)
    plant.apply_opcua(("cell", "press-brake", "Position"), 2)
    assert [c.name for c in layout.cells()] == ["press-brake", "packing"]
    plant.apply_opcua(("cell", "packing", "ItemState"), "Executing")
    plant.apply_opcua(("cell", "packing", "Position"), 4)  # the same place again
    plant.apply_uns([*CELL, "state", "CurrentState"], value("Executing"))  # press-brake
    assert [c.name for c in layout.cells()] == ["press-brake", "packing"]
    assert rebuilt == [["press-brake", "packing"]]  # values alone rebuild nothing
    plant.apply_opcua(("cell", "packing", "Position"), 1)
    plant.apply_uns(["f", "s", "a", "l", "cobot", "state", "CurrentState"], value("Executing"))
    assert [c.name for c in layout.cells()] == ["packing", "press-brake", "cobot"]
    assert rebuilt[1:] == [["packing", "press-brake", "cobot"]]


def test_plant_oee_comes_from_the_bridged_plant_kpi_once_the_uns_carries_it():
    plant = PlantState("p", "opc.tcp://x")
    plant.apply_opcua(("simulation", "SimulatedClock"), datetime(2026, 1, 5, 6, tzinfo=UTC))
    plant.apply_opcua(("kpi", "OEE"), 0.40)
    plant.apply_opcua(("kpi", "Throughput"), 12.5)
    assert plant.plant_kpi("OEE") == 0.40 and not plant.uns_kpis  # no plant KPI bridged yet
    assert [oee for _, oee in plant.oee_trend] == [0.40]
    kpi = ["factory", "site", "area", "line", "plant", "kpi"]
    plant.apply_uns([*kpi, "OEE"], value(0.52, "2026-01-05T06:01:00Z"))
    plant.apply_uns([*kpi, "Availability"], value(0.8, "2026-01-05T06:01:00Z"))
    plant.apply_opcua(("kpi", "OEE"), 0.41)  # the simulator's figure no longer shown
    assert plant.plant_kpi("OEE") == 0.52 and plant.plant_kpi("Availability") == 0.8
    assert plant.plant_kpi("Throughput") == 12.5  # not a plant KPI on the UNS
    assert list(plant.oee_trend) == [(datetime(2026, 1, 5, 6, 1, tzinfo=UTC), 0.52)]
    assert plant.cells == {}  # "plant" is not a cell of the floor
    assert len(plant.unpushed) == 2  # counted for the push latency
    for bad in (1.5, -0.1, "abc"):
        with pytest.raises(RejectedMessage):
            plant.apply_uns([*kpi, "OEE"], value(bad))
    assert plant.plant_kpi("OEE") == 0.52
    plant.apply_uns([*kpi, "OEE"], value(0.3, "2026-01-05T05:00:00Z"))  # older: not in trend
    assert [oee for _, oee in plant.oee_trend] == [0.52]


def test_activity_changes_add_up_to_a_pareto_of_lost_time():
    plant = PlantState("p", "opc.tcp://x")
    plant.apply_uns([*CELL, "Monitoring", "Activity"], value("producing", "2026-01-05T06:00:00Z"))
    plant.apply_uns([*CELL, "Monitoring", "Activity"], value("failed", "2026-01-05T07:00:00Z"))
    plant.apply_uns([*CELL, "Monitoring", "Activity"], value("setup", "2026-01-05T07:30:00Z"))
    plant.apply_uns([*CELL, "Monitoring", "Activity"], value("producing", "2026-01-05T07:40:00Z"))
    assert plant.pareto() == [("failed", 1800.0), ("setup", 600.0)]


def test_alarms_stay_until_inactive_and_acknowledged():
    plant = PlantState("p", "opc.tcp://x")

    def alarm(active, acked, event_id):
        return AlarmEvent.model_validate({
                "eventType": "AlarmConditionType", "time": "2026-01-05T07:00:00Z",
                "severity": 800, "message": "press-brake: failure",
                "fields": {"ConditionId": "ns=6;s=press-brake/Failure", "EventId": event_id,
                           "ConditionName": "Failure", "ActiveState": active,
                           "AckedState": acked, "Retain": True}})

    plant.apply_uns([*CELL, "alarms"], alarm(True, False, "00ff"))
    assert plant.alarms["ns=6;s=press-brake/Failure"].event_id == "00ff"
    plant.apply_uns([*CELL, "alarms"], alarm(False, False, "01ff"))
    assert not plant.alarms["ns=6;s=press-brake/Failure"].active  # still to acknowledge
    plant.apply_uns([*CELL, "alarms"], alarm(False, True, "02ff"))
    assert plant.alarms == {}


def test_knowledge_age_of_a_stand_alone_cell_is_the_age_of_its_last_shift_report():
    plant = PlantState("p", "opc.tcp://x")
    plant.apply_opcua(("simulation", "SimulatedClock"), datetime(2026, 1, 5, 16, 0, tzinfo=UTC))
    cell = plant.cell("cobot")
    assert plant.knowledge_age_s(cell) is None  # no report yet: the factory knows nothing
    plant.apply_opcua(("report", "cobot", "FiledAt"), datetime(2026, 1, 5, 14, 0))
    assert plant.knowledge_age_s(cell) == 2 * 3600


def test_only_fresh_values_count_for_push_latency():
    plant = PlantState("p", "opc.tcp://x")
    plant.apply_uns([*CELL, "Monitoring", "Power"], value(3.0), fresh=False)  # retained replay
    plant.apply_uns([*CELL, "Monitoring", "Power"], value(4.0))
    assert plant.take_unpushed() == [datetime(2026, 12, 1, 10, 0, tzinfo=UTC)]
    assert plant.take_unpushed() == []


def test_the_state_timeline_of_a_live_cell_comes_from_the_uns_and_ends_now():
    plant = PlantState("p", "opc.tcp://x")
    plant.apply_opcua(("cell", "press-brake", "ItemState"), "OutOfService",
                      datetime(2026, 1, 5, 6, 0))
    truth = plant.cells["press-brake"].segments(datetime(2026, 1, 5, 7, 0, tzinfo=UTC))
    assert [state for _, _, state in truth] == ["OutOfService"]  # not live: the simulator's
    plant.apply_uns([*CELL, "state", "CurrentState"], value("Executing", "2026-01-05T06:00:00Z"))
    plant.apply_uns([*CELL, "state", "CurrentState"], value("NotExecuting", "2026-01-05T06:30:00Z"))
    segments = plant.cells["press-brake"].segments(datetime(2026, 1, 5, 7, 0, tzinfo=UTC),
                                                   window_s=3600)
    assert [(a.minute, b.minute, s) for a, b, s in segments] == [
        (0, 30, "Executing"), (30, 0, "NotExecuting")]
    assert segments[-1][1] == datetime(2026, 1, 5, 7, 0, tzinfo=UTC)


def test_the_bridges_machine_mode_batches_are_unpacked_into_their_tags():
    import json

    from dashboard.uns import UnsConsumer

    plants = {"p": PlantState("p", "opc.tcp://x")}
    consumer = UnsConsumer("mqtt://127.0.0.1:1", plants, client_id="test")
    batch = {"updates": [{"topic": "p/" + "/".join([*CELL, "Monitoring", "GoodParts"]),
                          **value(7).model_dump(mode="json")},
                         {"topic": "other/" + "/".join([*CELL, "Monitoring", "GoodParts"]),
                          **value(9).model_dump(mode="json")}]}
    consumer.inbox.append(("p/" + "/".join([*CELL, "updates"]), json.dumps(batch).encode(),
                           False))
    consumer.drain()
    assert plants["p"].cells["press-brake"].live["good"] == 7  # another plant's is not taken


def test_the_dashboard_imports_nothing_of_the_simulator_the_server_or_the_bridge():
    import ast
    from pathlib import Path

    forbidden = {"factory_sim", "opcua_server", "mqtt_bridge", "factory_cli"}
    for path in (Path(__file__).resolve().parents[2] / "dashboard").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & forbidden, (path.name, names)
