"""The event log: JSON Lines that read back into the same typed events."""

from __future__ import annotations

import dataclasses
import io
import json
from enum import Enum

import pytest

from factory_sim.event_log import EventLog, read_event_log
from factory_sim.events import (
    AlarmRaised,
    PartFinished,
    PartOutcome,
    PlannerInformed,
    SafetyStateChanged,
    StateChanged,
)
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario
from factory_sim.shipped import shipped_scenarios_dir
from factory_sim.states import Activity, AlarmKind, OperationalMode

EVENTS = [
    StateChanged(0.0, "laser", Activity.PRODUCING, 12.5, 0.0),
    PartFinished(61.25, "laser", "O-1", "bracket", PartOutcome.SCRAP, 0, 2),
    AlarmRaised(70.0, "laser", "laser-F-1", AlarmKind.FAILURE, 800, "Störung: drive"),
    SafetyStateChanged(71.0, "cobot", True, False, OperationalMode.AUTOMATIC),
    PlannerInformed(75.5, "laser", Activity.FAILED, 70.0),
]


def test_every_event_is_one_json_line_with_enums_by_name(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        for event in EVENTS:
            log(event)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert log.count == len(lines) == len(EVENTS)
    first = json.loads(lines[0])
    assert first == {"event": "StateChanged", "time": 0.0, "cell": "laser",
                     "activity": "PRODUCING", "power_kw": 12.5, "energy_kwh": 0.0}
    assert json.loads(lines[2])["message"] == "Störung: drive"
    assert list(json.loads(lines[1])) == ["event", "time", "cell", "order_id", "variant",
                                          "outcome", "completed", "planned"]


def test_a_log_reads_back_into_equal_typed_events(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        for event in EVENTS:
            log(event)
    assert list(read_event_log(path)) == EVENTS


def test_writing_the_same_events_twice_gives_identical_bytes():
    outputs = []
    for _ in range(2):
        stream = io.StringIO()
        log = EventLog(stream)
        for event in EVENTS:
            log(event)
        outputs.append(stream.getvalue().encode())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("line", [
    "not json",
    '{"event": "NoSuchEvent", "time": 1.0}',
    '{"event": "StateChanged", "time": 1.0, "cell": "x", "activity": "DANCING",'
    ' "power_kw": 1.0, "energy_kwh": 0.0}',
    '{"event": "PlannerInformed", "time": 1.0}',
])
def test_a_bad_line_is_named(line):
    stream = io.StringIO(json.dumps(EVENTS[0].as_record()) + "\n" + line + "\n")
    with pytest.raises(ValueError, match="event log line 2"):
        list(read_event_log(stream))


REFERENCE = shipped_scenarios_dir() / "reference-opcua.yaml"


def log_a_day(path, seed):
    plant = Plant(load_scenario(REFERENCE), seed=seed)
    with EventLog(path) as log:
        plant.subscribe(log)
        plant.run(86400.0)
    return path.read_bytes()


def test_same_seed_gives_a_byte_identical_log_and_another_seed_does_not(tmp_path):
    first = log_a_day(tmp_path / "a.jsonl", 7)
    assert first.count(b"\n") > 100
    assert log_a_day(tmp_path / "b.jsonl", 7) == first
    assert log_a_day(tmp_path / "c.jsonl", 8) != first


def test_as_record_is_every_field_with_enums_by_name_for_every_event_of_a_model_day():
    events = []
    plant = Plant(load_scenario(REFERENCE.with_name("mixed.yaml")), seed=3)
    plant.subscribe(events.append)
    plant.run(86400.0)
    assert {type(event) for event in events} >= {StateChanged, PartFinished, PlannerInformed}
    for event in events:
        expected = {"event": type(event).__name__}
        expected.update({key: value.name if isinstance(value, Enum) else value
                         for key, value in dataclasses.asdict(event).items()})
        assert event.as_record() == expected
