"""Events a server discards from a full event queue are noticed (issue 23): read again from the
machine's event history, else named by a gap record. The in-test Machinery server (event
history kept per machine) with every monitored-item queue limited to 5, a real Mosquitto,
the bridge in this process; a burst of 20 alarms between two publish responses."""

from __future__ import annotations

import asyncio
import logging

from opcua_server.asyncua_adapter import queue_overflow
from tests.bridge.bridges import running
from tests.bridge.machinery_server import MachineryServer
from tests.bridge.test_bridge_faults import ALARMS, bridge_config, documents, settle
from tests.services import MqttRecorder, Received

BURST = [f"burst {i}" for i in range(20)]


def alarm_messages(messages: list[Received]) -> list[str]:
    return [d["message"] for _, d in sorted(documents(messages, ALARMS).items())
            if "gap" not in d]


async def burst_of_alarms(server: MachineryServer, mosquitto, tmp_path, **more):
    """The bridge sees one alarm, then a burst of 20 into a queue of 5; what reached MQTT
    and the source's figures."""
    server.limit_queues(5)
    recorder = MqttRecorder(mosquitto, "factory/#")
    try:
        async with running(bridge_config(server, mosquitto, tmp_path / "state",
                                         opcua__publishing_interval=500.0, **more)) as bridge:
            await asyncio.to_thread(server.fire_alarm, "Press1", "first", 500)
            await settle(recorder, lambda m: "first" in alarm_messages(m))
            await asyncio.to_thread(server.fire_alarms, "Press1", BURST)
            messages = await settle(recorder, lambda m: BURST[-1] in alarm_messages(m)
                                    and (set(BURST) <= set(alarm_messages(m))
                                         or any("gap" in d for d in
                                                documents(m, ALARMS).values())))
            stats = bridge.source.stats()
            stats["event_overflows"] = stats.get("event_overflows", 0)  # (before the fix: none)
    finally:
        recorder.close()
    return messages, stats


async def test_events_discarded_from_a_full_queue_come_back_from_event_history(
    machinery_server: MachineryServer, mosquitto, tmp_path, caplog
) -> None:
    """The server (its adapter installed) puts an EventQueueOverflowEvent at the head of the
    queue; the 15 alarms it discarded come back from the machine's event history, each once,
    the overflow event is no alarm of the machine, and the overflow is a warning and counted.
    (A server that discards without a word: the bridge takes a whole queue of one item for an
    overflow, `event_overflow.overflowed_items`; a burst beyond the 1,000 the bridge asks for
    stalls the in-test server too long to test it here.)"""
    caplog.set_level(logging.WARNING)
    assert queue_overflow.install()
    try:
        messages, stats = await burst_of_alarms(machinery_server, mosquitto, tmp_path)
    finally:
        queue_overflow.uninstall()
    arrived = alarm_messages(messages)
    assert sorted(arrived) == sorted(["first", *BURST]), arrived  # each once, none lost
    assert not any("gap" in d for d in documents(messages, ALARMS).values())
    assert not any("EventQueueOverflow" in str(m.payload) for m in messages)
    assert stats["event_overflows"] == 1
    assert any("discarded events of Press1" in r.getMessage() for r in caplog.records)


async def test_events_discarded_without_event_history_are_a_gap_record(
    machinery_server: MachineryServer, mosquitto, tmp_path
) -> None:
    """With reading history off, the discarded alarms cannot come back: a gap record in the
    machine's alarms says that events were lost, before the alarms that arrived."""
    assert queue_overflow.install()
    try:
        messages, stats = await burst_of_alarms(machinery_server, mosquitto, tmp_path,
                                                opcua__backfill=False)
    finally:
        queue_overflow.uninstall()
    by_seq = documents(messages, ALARMS)
    (gap,) = [(seq, d) for seq, d in by_seq.items() if "gap" in d]
    assert "discarded events" in gap[1]["gap"]["reason"]
    after = [d["message"] for seq, d in sorted(by_seq.items()) if seq > gap[0]]
    assert after == BURST[-5:] and stats["event_overflows"] == 1
