"""The whole bridge against real peers: the in-test Machinery server, Mosquitto and
VictoriaMetrics. Values arrive on MQTT and in the time series; an OPC UA server restart and a
SIGKILLed bridge lose nothing, and sequence numbers prove it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from mqtt_bridge.app import Bridge
from mqtt_bridge.config import load
from tests.bridge.bridges import stop_bridge
from tests.bridge.machinery_server import MachineryServer
from tests.services import MqttRecorder, Received

TOPIC = "factory/Plant/Bending/Line1/Press1/Monitoring/Temperature"
SERIES = '{__name__="monitoring_Temperature",cell="Press1"}'


def by_seq(messages: list[Received], topic: str = TOPIC) -> dict[int, object]:
    """seq -> value of one topic; at-least-once may repeat a seq, never with another value."""
    values: dict[int, object] = {}
    for message in messages:
        if message.topic == topic:
            document = message.json()
            assert values.setdefault(document["seq"], document["value"]) == document["value"]
    return values


def delivered(messages: list[Received], topic: str = TOPIC) -> list[object]:
    """The values of a topic in seq order, after checking that no seq is missing."""
    values = by_seq(messages, topic)
    assert sorted(values) == list(range(1, len(values) + 1)), "a sequence number is missing"
    return [values[seq] for seq in sorted(values)]


def series_values(victoria_metrics, count: int) -> list[float]:
    series = victoria_metrics.wait_for_samples(SERIES, count)
    return [v for s in series for v in s["values"]]


async def test_values_reach_mqtt_and_the_time_series_across_a_server_restart(
    fresh_server: MachineryServer, mosquitto, victoria_metrics, tmp_path: Path
) -> None:
    recorder = MqttRecorder(mosquitto, "factory/#")
    config = load(
        {
            ("opcua", "url"): fresh_server.url,
            ("opcua", "publishing_interval"): 2000.0,  # changes wait in the server's queue
            ("opcua", "reconnect_max_delay"): 1.0,
            ("mqtt", "url"): mosquitto.url,
            ("influx", "url"): victoria_metrics.url,
            ("", "state_dir"): str(tmp_path / "state"),
        },
        env={},
    )
    stop = asyncio.Event()
    bridge = Bridge(config)
    task = asyncio.create_task(bridge.run(stop))
    try:
        await asyncio.to_thread(recorder.wait_until, lambda m: len(by_seq(m)) >= 1)
        before = [float(v) for v in range(1, 6)]
        await asyncio.to_thread(
            fresh_server.set_values, [("Press1", "Temperature", v) for v in before]
        )
        await asyncio.sleep(0.1)  # historized, not yet published
        await asyncio.to_thread(fresh_server.restart)
        after = [float(v) for v in range(10, 13)]
        await asyncio.to_thread(
            fresh_server.set_values, [("Press1", "Temperature", v) for v in after]
        )
        expected = [20.0, *before, 20.0, *after]
        messages = await asyncio.to_thread(
            recorder.wait_until, lambda m: len(by_seq(m)) >= len(expected)
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        recorder.close()
    assert delivered(messages) == expected
    assert bridge.source.stats()["reconnects"] >= 1
    assert bridge.source.stats()["backfilled"] >= len(before)
    state = messages[-1].json()
    assert {"sourceTimestamp", "serverTimestamp", "status", "cellType", "nodeId"} <= set(state)
    assert sorted(series_values(victoria_metrics, len(expected))) == sorted(expected)


def start_bridge(server: MachineryServer, mosquitto, victoria_metrics, state: Path, log: Path):
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "factory_cli.main", "bridge", "--opcua", server.url,
             "--mqtt", mosquitto.url, "--influx", victoria_metrics.url,
             "--state-dir", str(state), "--publishing-interval", "50"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def test_a_sigkilled_bridge_loses_nothing_and_backfills_its_down_time(
    fresh_server: MachineryServer, mosquitto, victoria_metrics, tmp_path: Path
) -> None:
    recorder = MqttRecorder(mosquitto, "factory/#")
    state, log = tmp_path / "state", tmp_path / "bridge.log"
    bridge = start_bridge(fresh_server, mosquitto, victoria_metrics, state, log)
    try:
        recorder.wait_until(lambda m: len(by_seq(m)) >= 1)
        first = [1.0, 2.0, 3.0]
        fresh_server.set_values([("Press1", "Temperature", v) for v in first])
        recorder.wait_until(lambda m: len(by_seq(m)) >= 1 + len(first))
        time.sleep(1.0)  # the bridge saves its source state twice a second
        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)

        down = []  # ten seconds of changes only the server's history sees
        for value in range(100, 110):
            down.append(float(value))
            fresh_server.set_value("Press1", "Temperature", float(value))
            time.sleep(1.0)

        bridge = start_bridge(fresh_server, mosquitto, victoria_metrics, state, log)
        fresh_server.set_values([("Press1", "Temperature", 500.0)])
        expected = [20.0, *first, *down, 500.0]
        messages = recorder.wait_until(lambda m: len(by_seq(m)) >= len(expected), timeout=60)
    finally:
        stop_bridge(bridge)
        recorder.close()
    assert delivered(messages) == expected, log.read_text()[-3000:]
    assert bridge.returncode == 0, log.read_text()[-3000:]  # SIGTERM is a clean stop
    backfilled = re.search(r"backfilled (\d+) values from history", log.read_text())
    assert backfilled and int(backfilled[1]) >= len(down)
    assert sorted(series_values(victoria_metrics, len(expected))) == sorted(expected)
