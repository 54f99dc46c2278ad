"""The Sparkplug B output on real traffic: a simulated plant (OPC UA), the bridge as a process
publishing ISA-95 JSON and Sparkplug B side by side through a real Mosquitto, with a broker
restart, a rebirth request and a SIGKILL of the bridge in the middle. Asserted: every
Sparkplug requirement ID the checker covers (`sparkplug_checker.py`, printed per ID), every
payload decoded by Eclipse Tahu's own JavaScript decoder (npm sparkplug-payload), and the
Sparkplug values equal to the ISA-95 topics' values for the same source timestamps, none lost.

The ten-minute run of the issue is `benchmarks/sparkplug_soak.py`; this one is short.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from mqtt_bridge.outputs.sparkplug import payload as spb
from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb
from tests.bridge import sparkplug_checker
from tests.bridge.bridges import stop_bridge
from tests.services import MOSQUITTO, Mosquitto, MqttRecorder, Received, require_binary

GROUP, EDGE = "factory-sim", "plant-under-test"
INTEROP = Path(__file__).resolve().parents[1] / "interop"
DECODER = INTEROP / "decode_sparkplug.mjs"
STEP = 900  # simulated seconds of plant between the faults


def start_bridge(endpoint: str, broker: Mosquitto, state: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "factory_cli.main", "bridge", "--opcua", endpoint,
             "--mqtt", broker.url, "--sparkplug", broker.url, "--sparkplug-group", GROUP,
             "--sparkplug-edge-node", EDGE, "--state-dir", str(state),
             "--publishing-interval", "50"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def isa95_values(messages: list[Received]) -> set[tuple[str, str, int, object]]:
    """(device, metric, source time in ms, value) of every ISA-95 value message."""
    out = set()
    for message in messages:
        parts = message.topic.split("/")
        if message.topic.startswith(("spBv1.0/", "_")) or len(parts) != 7:
            continue
        document = json.loads(message.payload)
        if "value" not in document or document.get("sourceTimestamp") is None:
            continue
        stamp = datetime.fromisoformat(document["sourceTimestamp"].replace("Z", "+00:00"))
        value = document["value"]
        if isinstance(value, list | dict):
            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        out.add((":".join(parts[:5]), f"{parts[5]}:{parts[6]}",
                 int(stamp.timestamp() * 1000), value))
    return out


def sparkplug_values(messages: list[Received]) -> tuple[set, list[bytes]]:
    """(device, metric, timestamp ms, value) of every DBIRTH and DDATA metric (names found
    through the aliases of the births before), and every Sparkplug payload as sent."""
    names: dict[int, str] = {}
    out, payloads = set(), []
    for message in messages:
        parts = message.topic.split("/")
        if parts[0] != "spBv1.0" or parts[1] != GROUP or parts[3] != EDGE:
            continue
        payloads.append(message.payload)
        if parts[2] not in ("DBIRTH", "DDATA"):
            continue
        payload = pb.Payload.FromString(message.payload)
        for metric in payload.metrics:
            if parts[2] == "DBIRTH":
                names[metric.alias] = metric.name
            name = names[metric.alias]
            if name in ("events", "alarms") or metric.properties.keys:  # events, gaps
                continue
            out.add((parts[4], name, metric.timestamp, spb.value_of(metric, metric.datatype)))
    return out, payloads


def decoded_by_tahu(payloads: list[bytes]) -> list[dict]:
    lines = "".join(base64.b64encode(p).decode() + "\n" for p in payloads)
    done = subprocess.run(["node", str(DECODER)], input=lines, capture_output=True, text=True,
                          timeout=120, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.factory_plant("reference-opcua", seed=11)
def test_plant_traffic_meets_the_sparkplug_requirements_and_loses_nothing(
    factory_plant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_binary(MOSQUITTO)
    if shutil.which("node") is None or not (INTEROP / "node_modules/sparkplug-payload").is_dir():
        pytest.skip("node or npm sparkplug-payload missing (scripts/setup runs npm ci)")
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    # QoS 0 messages (Sparkplug's) wait for the away recorder too, as QoS 1 ones do
    broker.config_path.write_text(broker.config_path.read_text() + "queue_qos0_messages true\n")
    state, log = tmp_path / "state", tmp_path / "bridge.log"
    factory_plant.step(6 * 3600 - 900)  # Monday 00:00 -> shortly before the early shift
    broker.start()
    recorder = MqttRecorder(broker, "#", session=True)
    bridge = start_bridge(factory_plant.endpoint, broker, state, log)
    try:
        def births() -> int:
            return len(recorder.snapshot(lambda m: m.topic.startswith(f"spBv1.0/{GROUP}/NBIRTH")))

        def complete(messages: list[Received]) -> bool:
            return isa95_values(messages) <= sparkplug_values(messages)[0]

        def reborn(before: int) -> None:
            recorder.wait_until(lambda m: births() > before, timeout=90)
            assert births() > before, log.read_text()[-3000:]

        reborn(0)
        factory_plant.step(STEP)
        broker.stop()  # the broker goes away mid-flow: the plant goes on
        factory_plant.step(STEP)
        before = births()
        broker.start()
        reborn(before)
        factory_plant.step(STEP)
        before = births()  # a host asks for a rebirth
        rebirth = pb.Payload(timestamp=int(time.time() * 1000))
        rebirth.metrics.add(name=spb.REBIRTH, datatype=11, boolean_value=True)
        recorder._client.publish(f"spBv1.0/{GROUP}/NCMD/{EDGE}", rebirth.SerializeToString(),
                                 qos=1)
        reborn(before)
        factory_plant.step(STEP)
        before = births()
        bridge.send_signal(signal.SIGKILL)  # the broker sends the will (NDEATH)
        bridge.wait(10)
        factory_plant.step(STEP)  # changes while the bridge is away: read back from history
        bridge = start_bridge(factory_plant.endpoint, broker, state, log)
        reborn(before)
        seen = len(isa95_values(recorder.snapshot()))
        factory_plant.step(STEP)
        recorder.wait_until(lambda m: len(isa95_values(m)) > seen and complete(m), timeout=90)
        assert len(isa95_values(recorder.snapshot())) > seen  # values after the SIGKILL
        compared = recorder.settle()  # the values compared: both sinks kept up by now
        stop_bridge(bridge)  # a clean stop: NDEATH before DISCONNECT
        messages = recorder.settle()
        fresh = MqttRecorder(broker, "spBv1.0/#")  # what the broker retained, if anything
        retained = fresh.settle("spBv1.0/_test/marker")
        fresh.close()
    finally:
        if bridge.poll() is None:
            stop_bridge(bridge)
        recorder.close()
        broker.stop()
    results = sparkplug_checker.check(messages, GROUP, EDGE, retained, rebirths=1)
    with capsys.disabled():
        print("\n" + sparkplug_checker.report(results))
    assert not sparkplug_checker.failed(results), sparkplug_checker.report(results)
    # the NDEATHs: the SIGKILL's will, and the clean stop's own
    deaths = [m for m in messages if m.topic == f"spBv1.0/{GROUP}/NDEATH/{EDGE}"]
    assert len(deaths) >= 2

    isa95 = isa95_values(compared)
    sparkplug, payloads = sparkplug_values(compared)
    with capsys.disabled():
        print(f"{len(isa95):,} ISA-95 values, each on Sparkplug: {len(isa95 - sparkplug) == 0}; "
              f"{len(payloads):,} Sparkplug payloads")
    assert len(isa95) > 50
    missing = isa95 - sparkplug
    assert not missing, sorted(missing)[:5]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]

    # Eclipse Tahu's decoder reads every payload, with the same values as ours
    decoded = decoded_by_tahu(payloads)
    assert len(decoded) == len(payloads)
    assert not [d for d in decoded if "error" in d]
    for raw, theirs in zip(payloads, decoded, strict=True):
        ours = pb.Payload.FromString(raw)
        assert [m.alias or None for m in ours.metrics] == [
            int(m["alias"]) if m["alias"] is not None else None for m in theirs["metrics"]]
        for mine, their in zip(ours.metrics, theirs["metrics"], strict=True):
            if mine.is_null or their["value"] is None:
                assert mine.is_null
                continue
            value = spb.value_of(mine, mine.datatype)
            if isinstance(value, bool | str):
                assert their["value"] == value
            elif isinstance(value, float):
                assert float(their["value"]) == value or value != value
            else:
                assert int(their["value"]) == value
