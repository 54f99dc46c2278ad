"""A Sparkplug edge node stopped by SIGTERM in mid-flow (an hour of the early shift just
stepped, its values still on their way): the bridge stops on its own and cleanly, its NDEATH
is its last word, once, with the session's bdSeq, and whatever was not confirmed before the
stop waits in the journal and arrives after the next start: nothing lost.

Why it stops promptly (before: 9-11 s under load, most of it Python's final garbage collection
after the bridge had stopped): factory_cli.tuning.skip_final_collection, docs/performance.md.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb
from tests.bridge.bridges import stop_bridge
from tests.bridge.test_sparkplug_traffic import (
    EDGE,
    GROUP,
    isa95_values,
    sparkplug_values,
    start_bridge,
)
from tests.services import MqttRecorder, Received

NODE = f"spBv1.0/{GROUP}/{{}}/{EDGE}"


def bd_seq(message: Received) -> int:
    metrics = pb.Payload.FromString(message.payload).metrics
    return next(m.long_value for m in metrics if m.name == "bdSeq")


def edge_node(messages: list[Received]) -> list[Received]:
    return [m for m in messages if m.topic.startswith(f"spBv1.0/{GROUP}/")
            and m.topic.split("/")[3] == EDGE]


@pytest.mark.factory_plant("reference-opcua", seed=11)
def test_a_sigterm_in_mid_flow_stops_the_edge_node_cleanly_and_loses_nothing(
    factory_plant, mosquitto, tmp_path: Path
) -> None:
    state, log = tmp_path / "state", tmp_path / "bridge.log"
    factory_plant.step(6 * 3600 - 900)  # Monday 00:00 -> shortly before the early shift
    recorder = MqttRecorder(mosquitto, "#")
    bridge = start_bridge(factory_plant.endpoint, mosquitto, state, log)
    try:
        recorder.wait_until(lambda ms: any(m.topic == NODE.format("NBIRTH") for m in ms), 90)
        factory_plant.step(3600)  # a burst of values ...
        recorder.wait_until(lambda ms: any(m.topic.startswith(NODE.format("DDATA"))
                                           for m in ms), 60)
        bridge.send_signal(signal.SIGTERM)  # ... and the stop while they are on their way
        stop_bridge(bridge)  # as every stop test: SIGKILL if still there after 20 s
        assert bridge.returncode == 0, log.read_text()[-3000:]  # it stopped on its own
        session = edge_node(recorder.settle())
        # the node's NDEATH is its last message, once (a DISCONNECT: no will on top), and it
        # names the session's bdSeq
        deaths = [m for m in session if m.topic == NODE.format("NDEATH")]
        assert len(deaths) == 1 and session[-1] is deaths[0], [m.topic for m in session[-5:]]
        birth = next(m for m in session if m.topic == NODE.format("NBIRTH"))
        assert bd_seq(deaths[0]) == bd_seq(birth)

        # nothing lost: what the stop left unconfirmed goes out first after the next start
        # (each output delivers in journal order), then what the plant does next; every
        # ISA-95 value, from before the stop and after, also arrives on Sparkplug
        bridge = start_bridge(factory_plant.endpoint, mosquitto, state, log)
        recorder.wait_until(lambda ms: sum(m.topic == NODE.format("NBIRTH") for m in ms) == 2,
                            90)
        before = isa95_values(recorder.snapshot())
        factory_plant.step(900)
        messages = recorder.wait_until(
            lambda ms: len(isa95_values(ms)) > len(before)
            and isa95_values(ms) <= sparkplug_values(ms)[0], timeout=90)
    finally:
        stop_bridge(bridge)
        recorder.close()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert len(before) > 50 and before <= sparkplug_values(messages)[0]
