"""DDEATH on real traffic: the bridge (in this process) reads a real OPC UA server and publishes
Sparkplug B through a real Mosquitto; a machine removed from the server and then the server's
restart make their devices die (DDEATH with the node's next seq) and be born again, and the
checker's DDEATH requirement IDs pass on that traffic (`sparkplug_checker.py`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mqtt_bridge.config import load
from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb
from tests.bridge import sparkplug_checker
from tests.bridge.bridges import running
from tests.bridge.machinery_server import MachineryServer
from tests.services import MqttRecorder, Received

GROUP, EDGE = "g", "e"


def of(messages: list[Received], kind: str) -> list[str]:
    """The device ids (or "" for a node message) of the messages of type `kind`, in order."""
    prefix = f"spBv1.0/{GROUP}/{kind}/{EDGE}"
    return [m.topic[len(prefix) + 1:] for m in messages if m.topic.startswith(prefix)]


async def test_lost_sources_make_their_devices_die_and_be_born_again(
    fresh_server: MachineryServer, mosquitto, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    config = load({("opcua", "url"): fresh_server.url, ("opcua", "publishing_interval"): 50.0,
                   ("opcua", "rebrowse_interval"): 0.5, ("opcua", "reconnect_max_delay"): 1.0,
                   ("sparkplug", "url"): mosquitto.url, ("sparkplug", "group_id"): GROUP,
                   ("sparkplug", "edge_node_id"): EDGE, ("", "state_dir"): str(tmp_path)},
                  env={})
    recorder = MqttRecorder(mosquitto, "spBv1.0/#")

    def wait(done) -> list[Received]:
        return recorder.wait_until(done, 30)

    def after_last_birth(ms: list[Received]) -> list[Received]:
        births = [i for i, m in enumerate(ms) if m.topic == f"spBv1.0/{GROUP}/NBIRTH/{EDGE}"]
        return ms[births[-1]:] if births else []

    try:
        async with running(config):
            born = await asyncio.to_thread(wait, lambda ms: any(
                d.endswith("Press1") for d in of(ms, "DBIRTH")))
            press = next(d for d in of(born, "DBIRTH") if d.endswith("Press1"))
            devices = set(of(after_last_birth(born), "DBIRTH"))
            await asyncio.to_thread(fresh_server.remove_machine, "Press1")
            await asyncio.to_thread(wait, lambda ms: of(ms, "DDEATH") == [press])
            await asyncio.to_thread(fresh_server.restart, 1.0)  # the server goes, and is back
            await asyncio.to_thread(wait, lambda ms: set(of(ms, "DDEATH")) == devices and (
                set(of(after_last_birth(ms), "DBIRTH")) == devices - {press}))
        messages = recorder.settle("spBv1.0/_test/marker")
    finally:
        recorder.close()
    deaths = of(messages, "DDEATH")
    assert deaths[0] == press and sorted(deaths[1:]) == sorted(devices - {press}), deaths
    # after the last birth: the machines back, not the one removed
    assert set(of(after_last_birth(messages), "DBIRTH")) == devices - {press}
    death = pb.Payload.FromString(next(m.payload for m in messages if "DDEATH" in m.topic))
    assert not death.metrics and death.HasField("seq") and death.HasField("timestamp")
    results = sparkplug_checker.check(messages, GROUP, EDGE, device_deaths=True)
    with capsys.disabled():
        print("\n" + "\n".join(line for line in sparkplug_checker.report(results).splitlines()
                               if "ddeath" in line))
    assert not [r for r, result in results.items() if result.offences], (
        sparkplug_checker.report(results))
    assert all(results[r].passed for r in sparkplug_checker.DEVICE_DEATH_REQUIREMENTS)
