"""The dashboard's UNS input against anything a publisher can send: each message stands alone.

The consumer's MQTT side is paho's; these tests hand messages to `UnsConsumer.offer` as paho's
thread does and drain them as the event loop does. The end-to-end path (a real broker, a
running demo, a browser) is in test_dashboard_hostile.py.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.state import PlantState
from dashboard.uns import UnsConsumer

PLANT = "p"
CELL_TOPIC = f"{PLANT}/factory/plant-1/fabrication/line-1/press-brake"
POWER = f"{CELL_TOPIC}/Monitoring/Power"
STATE = f"{CELL_TOPIC}/state/CurrentState"
ALARMS = f"{CELL_TOPIC}/alarms"
UPDATES = f"{CELL_TOPIC}/updates"
GOOD_TIME = "2026-01-05T06:00:00Z"


def consumer(inbox_limit: int = 1000) -> UnsConsumer:
    # never started: no broker is contacted
    return UnsConsumer("mqtt://127.0.0.1:1", {PLANT: PlantState(PLANT, "opc.tcp://x")},
                       client_id="test", inbox_limit=inbox_limit)


def value(v, source=GOOD_TIME) -> bytes:
    return json.dumps({"value": v, "sourceTimestamp": source,
                       "serverTimestamp": "2026-12-01T10:00:00Z", "status": "Good"}).encode()


def alarm(**changes) -> dict:
    document = {"eventType": "AlarmConditionType", "time": GOOD_TIME, "severity": 800,
                "message": "press-brake: failure",
                "fields": {"ConditionId": "ns=6;s=press-brake/Failure", "EventId": "00ff",
                           "ConditionName": "Failure", "ActiveState": True,
                           "AckedState": False, "Retain": True}}
    for key, new in changes.items():
        if key in document["fields"]:
            document["fields"][key] = new
        else:
            document[key] = new
    return document


# The payloads of issue 19, each of which stopped the old consumer or blanked the page.
HOSTILE = [
    (POWER, b"[" * 200_000),  # RecursionError
    (UPDATES, json.dumps({"updates": {"not": "a list"}}).encode()),
    (POWER, value(1.0, "yesterday")),
    (POWER, value(1.0, 12)),
    (POWER, value(1.0, "2026-01-05T07:00:00")),  # naive after aware ones
    (ALARMS, json.dumps(alarm(severity="high")).encode()),
    (ALARMS, json.dumps(alarm(severity=1e999)).encode().replace(b"Infinity", b"1e999")),
    (ALARMS, json.dumps(alarm(fields=[1, 2])).encode()),
    (ALARMS, json.dumps(alarm(time="nope")).encode()),
    (POWER, value("abc")),  # a text where a number belongs: blanked the page
    (STATE, value(42)),
    (POWER, b"\xff\xfe not utf-8"),
    (POWER, b"x" * 600_000),  # too large
    (ALARMS, json.dumps(alarm(ConditionName='x" innerHTML="<img src=x onerror=alert(1)>',
                              EventId="zz")).encode()),
    (UPDATES, json.dumps({"updates": [{"topic": "other/a/b/c/d/e/Monitoring/Power",
                                       "value": 1}]}).encode()),
]


def test_every_hostile_payload_of_the_issue_is_rejected_and_counted_and_good_ones_still_apply():
    uns = consumer()
    for topic, payload in HOSTILE:
        uns.offer(topic, payload)
    uns.offer(POWER, value(7.5))
    assert uns.drain() == len(HOSTILE) + 1
    assert uns.rejected == len(HOSTILE)
    cell = uns.plants[PLANT].cells["press-brake"]
    assert cell.live == {"power": 7.5}
    assert uns.plants[PLANT].alarms == {}


def test_a_batch_applies_its_good_updates_and_counts_its_bad_ones():
    uns = consumer()
    updates = [{"topic": POWER, **json.loads(value(3.0))},
               {"topic": POWER, **json.loads(value("abc"))},
               {"topic": ALARMS, **alarm()},
               {"topic": STATE, **json.loads(value("Executing"))}]
    uns.offer(UPDATES, json.dumps({"updates": updates}).encode())
    uns.drain()
    plant = uns.plants[PLANT]
    assert plant.cells["press-brake"].live == {"power": 3.0, "state": "Executing"}
    assert list(plant.alarms) == ["ns=6;s=press-brake/Failure"]
    assert uns.rejected == 1


def test_a_rejection_is_logged_once_per_topic_with_the_reason(caplog):
    uns = consumer()
    for _ in range(5):
        uns.offer(POWER, value("abc"))
    uns.offer(STATE, value(1))
    with caplog.at_level("WARNING", logger="dashboard.uns"):
        uns.drain()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "Monitoring/Power" in lines[0] and "a finite number expected" in lines[0]
    assert uns.rejected == 6


def test_the_inbox_is_bounded_and_drops_the_oldest_counted():
    uns = consumer(inbox_limit=10)
    for number in range(25):
        uns.offer(POWER, value(float(number)))
    assert len(uns.inbox) == 10 and uns.overflowed == 15
    uns.drain()
    assert uns.plants[PLANT].cells["press-brake"].live["power"] == 24.0


def test_a_flood_of_invented_cells_and_alarms_is_bounded():
    uns = consumer(inbox_limit=5000)
    for number in range(1200):
        uns.offer(f"{PLANT}/e/s/a/l/cell{number}/alarms",
                  json.dumps(alarm(ConditionId=f"c{number}")).encode())
    uns.drain()
    plant = uns.plants[PLANT]
    assert len(plant.cells) <= 500 and len(plant.alarms) <= 500
    assert uns.rejected >= 700


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)
alarm_like = st.fixed_dictionaries(
    {}, optional={"fields": st.dictionaries(
        st.sampled_from(["ConditionId", "ConditionName", "EventId", "ActiveState",
                         "AckedState", "Retain"]), json_values),
        "severity": json_values, "time": json_values, "message": json_values})
tag_like = st.fixed_dictionaries(
    {}, optional={"value": json_values, "sourceTimestamp": json_values,
                  "serverTimestamp": json_values, "gap": json_values})
job_list_like = st.fixed_dictionaries({}, optional={
    "sourceTimestamp": json_values,
    "value": json_values | st.lists(st.fixed_dictionaries({}, optional={
        "JobOrder": json_values | st.fixed_dictionaries({}, optional={
            "JobOrderID": json_values, "JobOrderParameters": json_values,
            "MaterialRequirements": json_values}),
        "State": json_values | st.lists(st.fixed_dictionaries({}, optional={
            "StateNumber": json_values | st.integers(0, 7), "StateText": json_values}),
            max_size=2)}), max_size=3)})
payloads = (st.binary(max_size=300)
            | json_values.map(lambda v: json.dumps(v).encode())
            | alarm_like.map(lambda v: json.dumps(v).encode())
            | tag_like.map(lambda v: json.dumps(v).encode())
            | job_list_like.map(lambda v: json.dumps(v).encode())
            | st.lists(tag_like | alarm_like, max_size=5).map(
                lambda items: json.dumps({"updates": [{"topic": POWER, **i} for i in items]})
                .encode()))
topics = st.sampled_from([POWER, STATE, ALARMS, UPDATES, f"{PLANT}/_bridge/x/status",
                          f"{CELL_TOPIC}/JobManagement.JobOrderControl/JobOrderList",
                          f"{CELL_TOPIC}/jobs", f"{PLANT}/a/b", "elsewhere/x"]) \
    | st.text(max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(topics, payloads), max_size=20), st.floats(0, 1e6))
def test_after_any_payloads_the_consumer_still_applies_good_messages(messages, power):
    uns = consumer()
    for topic, payload in messages:
        uns.offer(topic, payload, retained=False)
    assert uns.drain() == len(messages)
    uns.offer(POWER, value(power, "2099-01-01T00:00:00Z"))
    uns.offer(STATE, value("Executing", "2099-01-01T00:00:00Z"))
    uns.drain()
    live = uns.plants[PLANT].cells["press-brake"].live
    assert live["power"] == power and live["state"] == "Executing"
    for cell in uns.plants[PLANT].cells.values():  # whatever was accepted has its tag's type
        for key in ("power", "good", "scrap", "oee"):
            assert cell.live.get(key) is None or isinstance(cell.live[key], int | float)
        for key in ("state", "mode", "activity", "order"):
            assert cell.live.get(key) is None or isinstance(cell.live[key], str)
    for alarm_ in uns.plants[PLANT].alarms.values():
        assert isinstance(alarm_.severity, int) and 0 <= alarm_.severity <= 1000
    for cell in uns.plants[PLANT].jobs.cells:  # job orders: bounded texts and counts
        for row in uns.plants[PLANT].jobs.rows(cell):
            assert isinstance(row.job_order_id, str) and 0 < len(row.job_order_id) <= 200
            assert 1 <= row.state_number <= 6 or row.state_number == 0
            assert row.planned is None or isinstance(row.planned, int)


def test_the_first_message_of_a_burst_wakes_the_drain_once():
    uns = consumer()
    wakes: list[int] = []
    uns.on_arrival = lambda: wakes.append(len(uns.inbox))
    for number in range(5):
        uns.offer(POWER, value(float(number)))
    assert wakes == [1]  # one wake-up for the burst, at its first message
    assert uns.drain() == 5
    uns.offer(POWER, value(9.0))  # after a drain, the next message wakes it again
    assert wakes == [1, 1]
    assert uns.drain() == 1 and uns.plants[PLANT].cells["press-brake"].live["power"] == 9.0
