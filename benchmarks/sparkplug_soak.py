"""The Sparkplug B output's long run (issue 25): a plant served at speed, the bridge publishing
ISA-95 and Sparkplug B side by side through Mosquitto for `--minutes` (10 by default), with a
broker restart, a rebirth request and a SIGKILL of the bridge in the middle; then every
requirement ID of `tests/bridge/sparkplug_checker.py` with PASS/FAIL, Eclipse Tahu's decoder
(npm sparkplug-payload) on every payload, and every ISA-95 value found on Sparkplug.

    .venv/bin/python benchmarks/sparkplug_soak.py [--minutes 10] [--speed 60]

Exit status 0 when everything passed. `tests/bridge/test_sparkplug_traffic.py` is the short
version the suite runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge_throughput import wait_for_port  # noqa: E402

from mqtt_bridge.outputs.sparkplug import payload as spb  # noqa: E402
from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb  # noqa: E402
from tests.bridge import sparkplug_checker  # noqa: E402
from tests.bridge.test_sparkplug_traffic import (  # noqa: E402
    EDGE,
    GROUP,
    decoded_by_tahu,
    isa95_values,
    sparkplug_values,
    start_bridge,
)
from tests.services import Mosquitto, MqttRecorder, free_port  # noqa: E402

FACTORY_SIM = [sys.executable, "-m", "factory_cli.main"]
START = "2026-01-05T05:30:00Z"  # a Monday, half an hour before the early shift


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=60.0, help="the plant's speed factor")
    parser.add_argument("--scenario", default="reference-opcua")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sparkplug-soak-"))
    total = args.minutes * 60
    broker = Mosquitto(work / "broker", persistent=True)
    broker.config_path.write_text(broker.config_path.read_text() + "queue_qos0_messages true\n")
    broker.start()
    port = free_port()
    server = subprocess.Popen(
        [*FACTORY_SIM, "serve", args.scenario, "--speed", f"{args.speed:g}", "--port",
         str(port), "--history", "--state-dir", str(work / "server"), "--start", START],
        stdout=open(work / "server.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    endpoint = f"opc.tcp://127.0.0.1:{port}"
    recorder = MqttRecorder(broker, "#", session=True)
    state, log = work / "state", work / "bridge.log"
    started = time.monotonic()
    events: list[str] = []

    def at(fraction: float) -> None:
        time.sleep(max(0.0, started + fraction * total - time.monotonic()))

    try:
        wait_for_port(port, server)
        bridge = start_bridge(endpoint, broker, state, log)
        started = time.monotonic()
        at(0.4)
        broker.stop()
        events.append(f"{time.monotonic() - started:.0f} s: broker stopped for 10 s")
        time.sleep(10)
        broker.start()
        at(0.6)
        request = pb.Payload(timestamp=int(time.time() * 1000))
        request.metrics.add(name=spb.REBIRTH, datatype=11, boolean_value=True)
        recorder._client.publish(f"spBv1.0/{GROUP}/NCMD/{EDGE}", request.SerializeToString(),
                                 qos=1)
        events.append(f"{time.monotonic() - started:.0f} s: rebirth requested")
        at(0.75)
        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)
        events.append(f"{time.monotonic() - started:.0f} s: bridge SIGKILLed, back after 5 s")
        time.sleep(5)
        bridge = start_bridge(endpoint, broker, state, log)
        at(1.0)
        server.send_signal(signal.SIGTERM)  # no more changes: let both outputs drain
        server.wait(30)
        recorder.wait_until(lambda m: isa95_values(m) <= sparkplug_values(m)[0], timeout=120)
        compared = recorder.settle()
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(30)
        messages = recorder.settle()
        fresh = MqttRecorder(broker, "spBv1.0/#")
        retained = fresh.settle("spBv1.0/_test/marker")
        fresh.close()
    finally:
        for process in (server,):
            if process.poll() is None:
                process.kill()
        recorder.close()
        broker.stop()
    results = sparkplug_checker.check(messages, GROUP, EDGE, retained, rebirths=1)
    print("\n".join(events))
    print(sparkplug_checker.report(results))
    isa95 = isa95_values(compared)
    sparkplug, payloads = sparkplug_values(compared)
    missing = isa95 - sparkplug
    decoded = decoded_by_tahu(payloads)
    undecoded = sum(1 for d in decoded if "error" in d)
    failed = sparkplug_checker.failed(results)
    print(f"{len(results) - len(failed)} of {len(results)} requirement IDs pass")
    print(f"ISA-95 values: {len(isa95):,}; on Sparkplug with the same source time and value: "
          f"{len(isa95) - len(missing):,}; missing: {len(missing)}")
    print(f"Sparkplug payloads: {len(payloads):,}; decoded by npm sparkplug-payload: "
          f"{len(decoded) - undecoded:,}; not decoded: {undecoded}")
    print(f"logs in {work}")
    tracebacks = "Traceback" in log.read_text()
    if tracebacks:
        print("the bridge log holds a traceback")
    return 1 if failed or missing or undecoded or tracebacks else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
