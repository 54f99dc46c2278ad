"""The loss cases an independent fault run found (issue 23), each with real services: the
in-test Machinery server, a real Mosquitto, the bridge in this process; asserting what a
consumer of the unified namespace sees."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tests.bridge.bridges import running
from tests.bridge.machinery_server import MachineryServer
from tests.bridge.test_bridge_faults import TEMPERATURE, bridge_config, in_order, settle, values
from tests.services import MqttRecorder, Received


def gap_records(messages: list[Received]) -> list[tuple[str, dict]]:
    """(topic, its "gap" object) of every gap record received."""
    return [(m.topic, document["gap"]) for m in messages
            if isinstance(document := m.json(), dict) and "gap" in document]


def when(stamp: str | None) -> datetime | None:
    return None if stamp is None else datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_a_gap_record_never_runs_backwards_when_a_restarted_servers_clock_went_back(
    fresh_server: MachineryServer, mosquitto, tmp_path
) -> None:
    """A server without durable history restarts and its clock starts again behind what it
    served before (a simulator's plant starts afresh). What it changed before the restart and
    did not publish is lost: a gap record says so, and it never runs from a later time to an
    earlier one (a consumer or the time series would read a negative length)."""
    recorder = MqttRecorder(mosquitto, "factory/#")
    config = bridge_config(fresh_server, mosquitto, tmp_path / "state",
                           opcua__publishing_interval=2000.0, opcua__reconnect_max_delay=1.0)
    successor = MachineryServer(fresh_server.port, clock_offset=-timedelta(hours=6))
    try:
        async with running(config):
            await settle(recorder, lambda m: values(m, TEMPERATURE))
            # changed, not yet published: the restart without history loses them
            await asyncio.to_thread(fresh_server.set_values,
                                    [("Press1", "Temperature", float(v)) for v in range(100, 105)])
            await asyncio.sleep(0.1)
            await asyncio.to_thread(fresh_server.stop)
            await asyncio.to_thread(successor.start)
            await asyncio.to_thread(successor.set_value, "Press1", "Temperature", 200.0)
            messages = await settle(recorder, lambda m: 200.0 in values(m, TEMPERATURE), 60)
    finally:
        recorder.close()
        successor.stop()
    gaps = gap_records(messages)
    backwards = [(topic, gap) for topic, gap in gaps
                 if gap["from"] is not None and gap["to"] is not None
                 and when(gap["from"]) > when(gap["to"])]
    assert not backwards, backwards[:3]
    documents = in_order(messages, TEMPERATURE)
    (gap,) = [d for d in documents if "gap" in d]
    after = documents[documents.index(gap) + 1:]
    assert gap["gap"]["to"] == after[0]["sourceTimestamp"]
    assert "clock went back" in gap["gap"]["reason"]
    assert 200.0 in [d["value"] for d in after] and 104.0 not in [d.get("value") for d in after]
