"""How many tag updates per second the bridge carries from the simulator to MQTT and the time
series, how late they arrive, and whether every one of them arrives.

    .venv/bin/python benchmarks/bridge_throughput.py [--lines 25] [--speed 10000] [--duration 20]
                                                     [--batch machine|tag]
                                                     [--output mqtt|sparkplug|umh]

Starts, each in its own process: Mosquitto and VictoriaMetrics (as the tests do, on free
loopback ports), `factory-sim serve SCENARIO --lines N --speed S` (the OPC UA server), and
`factory-sim bridge` (QoS 1 to Mosquitto, line protocol to VictoriaMetrics; `--batch` chooses
the bridge's MQTT mode: `machine`, one message per machine and round, or `tag`, one message per
tag update). A paho subscriber records every message. After a warm-up it measures for
`--duration` seconds:

  * bridge rate: tag updates received by the MQTT subscriber per second (the updates inside
    the batches in machine mode), and MQTT messages per second;
  * time-series rate: rows VictoriaMetrics ingested per second (its own counter);
  * latency: subscriber receive time minus the update's serverTimestamp (the wall-clock moment
    the server turned the model event into a value), p50 and p99;
  * accounting: per topic the sequence numbers must run 1..max without a gap;
  * bare paho: the same payloads published by one paho client straight to Mosquitto, QoS 1,
    for comparison (messages/s, and the tag updates/s they carry);
  * the OPC UA source alone (before the bridge starts, in this process, samples counted and
    dropped): what the OPC UA side can take and its CPU share, to tell it from the sinks;
  * CPU of every process during the window (in cores: 1.0 is one core busy), its mean and its
    peak over half-second samples, and the bridge's CPU time per tag update.
`--timeline` adds, per second of the window, the updates received, their latency and the
server's and the bridge's CPU: the plant's load is bursty (shift starts, day shifts), and the
latency follows the bursts.
`--output sparkplug` runs the bridge with the Sparkplug B output instead of the MQTT one
(QoS 0 DDATA, one per machine and round): rate = DDATA metric values received per second,
accounting = the edge node's `seq` without a gap, latency from the server's simulated clock
(`sparkplug_updates.py`: over-estimated by at most 20 ms); no bare-paho comparison.
`--output umh` runs it with the United Manufacturing Hub output (`--umh-form classic|core`):
rate = values in `_historian`/`_raw` messages received per second, accounting = the delivery
records' sequence numbers, latency from the same simulated clock (`umh_updates.py`).
Targets: >= 10,000 tag updates/s, p99 < 500 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from process_cpu import cpu_seconds  # noqa: E402
from sparkplug_updates import SessionAccount, SimulatedClockSampler  # noqa: E402
from sparkplug_updates import metrics as sparkplug_metrics  # noqa: E402
from umh_updates import sequence_numbers, values  # noqa: E402
from uns_updates import SequenceAccount, updates  # noqa: E402

from tests.services import Mosquitto, VictoriaMetrics, free_port  # noqa: E402

FACTORY_SIM = [sys.executable, "-m", "factory_cli.main"]


class Recorder:
    """Records (receive time, topic, payload) of every message; parsing waits for the end.

    The garbage collector is off while it records: its full collections over this process
    (50-90 ms each) would stall paho's thread and add to the latencies measured, and the
    messages kept hold no reference cycles to collect."""

    def __init__(self, broker: Mosquitto):
        gc.disable()
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[float, str, bytes]] = []
        subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="benchmark-recorder")
        client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        client.on_subscribe = lambda *_: subscribed.set()
        now, append = time.time, self.messages.append
        client.on_message = lambda _c, _u, m: append((now(), m.topic, m.payload))
        client.connect(broker.host, broker.port, keepalive=30)
        client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the recorder could not subscribe")
        self.client = client

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        gc.enable()


class CpuSampler:
    """Samples the CPU time of named processes every `interval` seconds, in a thread."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5):
        self.pids = pids
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while True:
            with contextlib.suppress(OSError):  # a process that has ended
                self.samples.append(
                    (time.time(), {name: cpu_seconds(pid) for name, pid in self.pids.items()})
                )
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def usage(self, start: float, end: float) -> dict[str, tuple[float, float]]:
        """Per process (mean, peak) cores used between `start` and `end`."""
        inside = [(t, cpu) for t, cpu in self.samples if start <= t <= end]
        if len(inside) < 2:
            return {}
        (t0, first), (t1, last) = inside[0], inside[-1]
        steps = list(itertools.pairwise(inside))
        return {
            name: ((last[name] - first[name]) / (t1 - t0),
                   max((b[name] - a[name]) / (tb - ta) for (ta, a), (tb, b) in steps))
            for name in self.pids
        }

    def per_second(self, start: float, name: str) -> dict[int, float]:
        """Cores used by one process in each second after `start`."""
        out: dict[int, list[float]] = {}
        for (ta, a), (tb, b) in itertools.pairwise(self.samples):
            if ta >= start:
                out.setdefault(int(ta - start), []).append((b[name] - a[name]) / (tb - ta))
        return {second: statistics.fmean(values) for second, values in out.items()}


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def ingested_rows(database: VictoriaMetrics) -> float:
    with urllib.request.urlopen(f"{database.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(m[1]) for m in re.finditer(r'^vm_rows_inserted_total\{type="influx"\} (\S+)$',
                                         text, re.MULTILINE)
    )


def bare_paho_rate(broker: Mosquitto, payloads: list[tuple[str, bytes]]) -> float:
    """QoS 1 publications per second of one paho client, until the last PUBACK."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    done = threading.Event()
    acked = [0]

    def on_publish(*_args) -> None:
        acked[0] += 1
        if acked[0] == len(payloads):
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="benchmark-bare")
    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    start = time.perf_counter()
    for topic, payload in payloads:
        client.publish("bare/" + topic, payload, qos=1)
    done.wait(120)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return acked[0] / elapsed


def source_alone(url: str, warmup: float, duration: float) -> tuple[float, float]:
    """Samples/s the OPC UA source hands on when nothing is delivered, and its CPU share:
    what the OPC UA side costs, separated from the sinks'."""
    import asyncio

    from factory_cli.tuning import speedups
    from mqtt_bridge.inputs.opcua import OpcUaSettings, OpcUaSource, asyncua_adapter
    from mqtt_bridge.inputs.opcua.discovery import Hierarchy

    count = [0]

    def emit(items: list) -> None:
        count[0] += len(items)

    async def run() -> tuple[float, float]:
        source = OpcUaSource(OpcUaSettings(url=url), Hierarchy(), emit)
        task = asyncio.create_task(source.run())
        await asyncio.wait_for(source.connected.wait(), 120)
        await asyncio.sleep(warmup)
        cpu0, n0, t0 = time.process_time(), count[0], time.time()
        await asyncio.sleep(duration)
        cpu1, n1, t1 = time.process_time(), count[0], time.time()
        task.cancel()  # and wait for its clean disconnect: a session left behind would keep
        with contextlib.suppress(asyncio.CancelledError):  # the server feeding its items
            await task
        return (n1 - n0) / (t1 - t0), (cpu1 - cpu0) / (t1 - t0)

    with speedups(asyncua_adapter):  # as `factory-sim bridge` runs it
        return asyncio.run(run())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="reference-opcua")
    parser.add_argument("--lines", type=int, default=25)
    parser.add_argument("--speed", type=float, default=10000.0,
                        help="simulated seconds per second; 10000 makes ~10k updates/s today "
                        "(the plant of 2026-12-01 made ~16k)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--batch", choices=("machine", "tag"), default="machine",
                        help="the bridge's MQTT mode (mqtt.batch; default machine)")
    parser.add_argument("--output", choices=("mqtt", "sparkplug", "umh"), default="mqtt",
                        help="the bridge's MQTT output: ISA-95 JSON (default), Sparkplug B or "
                        "United Manufacturing Hub")
    parser.add_argument("--umh-form", choices=("classic", "core"), default="classic",
                        help="with --output umh: UMH's form (default classic)")
    parser.add_argument("--timeline", action="store_true",
                        help="also print rate, latency and CPU per second of the window")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    broker = Mosquitto(work / "mosquitto")
    database = VictoriaMetrics(work / "victoria-metrics")
    broker.start()
    database.start()
    try:
        return measure(args, work, broker, database)
    finally:
        broker.stop()
        database.stop()


def measure(args: argparse.Namespace, work: Path, broker: Mosquitto,
            database: VictoriaMetrics) -> int:
    processes: list[subprocess.Popen] = []
    recorder = sampler = None
    try:
        port = free_port()
        server_log = open(work / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(
            [*FACTORY_SIM, "serve", args.scenario, "--lines", str(args.lines), "--speed",
             str(args.speed), "--port", str(port)],
            stdout=server_log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        processes.append(server)
        wait_for_port(port, server, timeout=300)  # a 25-line plant starts slowly under load
        alone_rate, alone_cpu = source_alone(
            f"opc.tcp://127.0.0.1:{port}", min(args.warmup, 3.0), args.duration / 2
        )
        recorder = Recorder(broker)
        bridge_log = open(work / "bridge.log", "wb")  # noqa: SIM115
        bridge = subprocess.Popen(
            [*FACTORY_SIM, "bridge", "--opcua", f"opc.tcp://127.0.0.1:{port}",
             *(["--sparkplug", broker.url] if args.output == "sparkplug" else
               ["--umh", broker.url, "--umh-form", args.umh_form] if args.output == "umh" else
               ["--mqtt", broker.url, "--mqtt-batch", args.batch]), "--influx", database.url,
             "--state-dir", str(work / "state"),
             "--log-level", "WARNING"],
            stdout=bridge_log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        processes.append(bridge)
        sampler = CpuSampler({"server": server.pid, "bridge": bridge.pid,
                              "Mosquitto": broker.pid, "VictoriaMetrics": database.pid,
                              "benchmark (subscriber)": os.getpid()})
        clock = (SimulatedClockSampler(f"opc.tcp://127.0.0.1:{port}")
                 if args.output in ("sparkplug", "umh") else None)
        time.sleep(args.warmup)
        if bridge.poll() is not None:
            raise RuntimeError("the bridge stopped:\n" + (work / "bridge.log").read_text())
        first, rows_before, t0 = len(recorder.messages), ingested_rows(database), time.time()
        time.sleep(args.duration)
        last, rows_after, t1 = len(recorder.messages), ingested_rows(database), time.time()
        sampler.stop()
        if clock is not None:
            clock.stop()
        bridge.send_signal(signal.SIGTERM)
        stopping = time.time()
        try:
            bridge.wait(60)
        except subprocess.TimeoutExpired:
            bridge.kill()
        stop_seconds = time.time() - stopping
        time.sleep(1.0)  # the last PUBACKs and deliveries
        recorder.close()
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
        if recorder is not None:
            recorder.close()
        if sampler is not None:
            sampler.stop()

    if args.output == "sparkplug":
        return report_sparkplug(args, recorder.messages, first, last, t0, t1, rows_before,
                                rows_after, clock, sampler, stop_seconds, work)
    if args.output == "umh":
        return report_umh(args, recorder.messages, first, last, t0, t1, rows_before,
                          rows_after, clock, sampler, stop_seconds, work)
    messages = recorder.messages
    account = SequenceAccount()
    latencies: list[float] = []
    timeline: dict[int, list[float]] = {}  # second of the window -> latencies
    payloads: list[tuple[str, bytes]] = []
    in_window = 0  # tag updates received during the window
    for index, received, topic, update in updates(messages):
        account.add(topic, update["seq"])
        if first <= index < last:
            in_window += 1
            stamp = update.get("serverTimestamp")  # events carry model time only
            if stamp:
                latency = received - datetime.fromisoformat(stamp).timestamp()
                latencies.append(latency)
                timeline.setdefault(int(received - t0), []).append(latency)
    for _received, topic, payload in messages[first:last]:
        if not topic.startswith("_bridge/") and len(payloads) < 50_000:
            payloads.append((topic, payload))
    missing, repeated = account.missing, account.repeated
    window = t1 - t0
    rate = in_window / window
    message_rate = (last - first) / window
    per_message = in_window / max(1, last - first)
    ts_rate = (rows_after - rows_before) / window

    bare = bare_paho_rate(broker, payloads) if payloads else float("nan")

    print(f"plant: {args.scenario} x {args.lines} lines at speed {args.speed:g}; bridge in "
          f"{args.batch} mode; "
          f"measured {window:.1f} s after {args.warmup:g} s warm-up")
    print(f"topics: {len(account)}; messages received: {len(messages)}")
    print(f"OPC UA source alone:         {alone_rate:10,.0f} samples/s at {alone_cpu:.0%} of a "
          "core (counted, not delivered)")
    print(f"bridge -> MQTT (QoS 1):      {rate:10,.0f} tag updates/s   (target >= 10,000) in "
          f"{message_rate:,.0f} messages/s ({args.batch} mode, {per_message:.1f} updates each)")
    print(f"bridge -> time series:       {ts_rate:10,.0f} rows/s (VictoriaMetrics, value+seq)")
    print(f"bare paho -> Mosquitto QoS 1: {bare:9,.0f} msg/s (same payloads, one client: "
          f"{bare * per_message:,.0f} tag updates/s)")
    p50, p99 = (percentile(latencies, q) * 1000 for q in (0.5, 0.99))
    mean = statistics.fmean(latencies) * 1000 if latencies else float("nan")
    print(f"latency model event -> MQTT subscriber: p50 {p50:.0f} ms, p99 {p99:.0f} ms "
          f"(target p99 < 500 ms), mean {mean:.0f} ms")
    print(f"accounting: {missing} sequence numbers missing, {repeated} repeated deliveries "
          "(QoS 1 is at least once)")
    usage = sampler.usage(t0, t1)
    if usage:
        print("CPU in cores, mean / peak of 0.5 s samples: " + ", ".join(
            f"{name} {mean:.2f} / {peak:.2f}" for name, (mean, peak) in usage.items()))
        print(f"bridge CPU per tag update: {usage['bridge'][0] / rate * 1e6:.0f} µs")
    if args.timeline:
        server_cpu, bridge_cpu = (sampler.per_second(t0, name) for name in ("server", "bridge"))
        print("second  updates/s  p50 ms  p99 ms  server CPU  bridge CPU")
        for second in sorted(timeline):
            values = sorted(timeline[second])
            print(f"{second:6d} {len(values):10,d} {1000 * percentile(values, 0.5):7.0f} "
                  f"{1000 * percentile(values, 0.99):7.0f} {server_cpu.get(second, 0):11.2f} "
                  f"{bridge_cpu.get(second, 0):11.2f}")
    print(f"bridge stop after SIGTERM: {stop_seconds:.1f} s; logs in {work}")
    return 0 if missing == 0 else 1


def report_sparkplug(args, messages, first, last, t0, t1, rows_before, rows_after, clock,
                     sampler, stop_seconds, work) -> int:
    account = SessionAccount()
    for _received, topic, payload in messages:
        if topic.startswith("spBv1.0/"):
            account.add(topic, payload)
    latencies: list[float] = []
    in_window = 0
    for index, received, kind, metric in sparkplug_metrics(messages):
        if kind != "DDATA" or not first <= index < last:
            continue
        in_window += 1
        if not metric.is_historical and metric.timestamp:
            produced = clock.produced(metric.timestamp)
            if produced is not None:
                latencies.append(received - produced)
    data_messages = sum(1 for _r, topic, _p in messages[first:last] if "/DDATA/" in topic)
    window = t1 - t0
    rate = in_window / window
    print(f"plant: {args.scenario} x {args.lines} lines at speed {args.speed:g}; bridge -> "
          f"Sparkplug B; measured {window:.1f} s after {args.warmup:g} s warm-up")
    print(f"bridge -> Sparkplug (QoS 0 + confirmation): {rate:10,.0f} metric values/s "
          f"(target >= 10,000) in {data_messages / window:,.0f} DDATA messages/s")
    print(f"bridge -> time series:       {(rows_after - rows_before) / window:10,.0f} rows/s")
    p50, p99 = (percentile(latencies, q) * 1000 for q in (0.5, 0.99))
    print(f"latency model event -> Sparkplug subscriber: p50 {p50:.0f} ms, p99 {p99:.0f} ms "
          f"(target p99 < 500 ms; from the server's simulated clock, +<= 20 ms), "
          f"{len(latencies):,} values")
    print(f"accounting: {account.sessions} births, {account.missing} Sparkplug messages "
          "missing (seq gaps within a session)")
    usage = sampler.usage(t0, t1)
    if usage:
        print("CPU in cores, mean / peak of 0.5 s samples: " + ", ".join(
            f"{name} {mean:.2f} / {peak:.2f}" for name, (mean, peak) in usage.items()))
        if rate:
            print(f"bridge CPU per metric value: {usage['bridge'][0] / rate * 1e6:.0f} µs")
    print(f"bridge stop after SIGTERM: {stop_seconds:.1f} s; logs in {work}")
    return 0 if account.missing == 0 else 1


def report_umh(args, messages, first, last, t0, t1, rows_before, rows_after, clock,
               sampler, stop_seconds, work) -> int:
    account = SequenceAccount()
    for series, seq in sequence_numbers(messages):
        account.add(series, seq)
    latencies: list[float] = []
    in_window = 0
    for index, received, stamp in values(messages):
        if first <= index < last:
            in_window += 1
            produced = clock.produced(stamp)
            if produced is not None:
                latencies.append(received - produced)
    window = t1 - t0
    rate = in_window / window
    print(f"plant: {args.scenario} x {args.lines} lines at speed {args.speed:g}; bridge -> "
          f"UMH {args.umh_form}; measured {window:.1f} s after {args.warmup:g} s warm-up")
    print(f"bridge -> UMH (QoS 1):       {rate:10,.0f} values/s (target >= 10,000) in "
          f"{(last - first) / window:,.0f} messages/s (values, _analytics, delivery records)")
    print(f"bridge -> time series:       {(rows_after - rows_before) / window:10,.0f} rows/s")
    p50, p99 = (percentile(latencies, q) * 1000 for q in (0.5, 0.99))
    print(f"latency model event -> UMH subscriber: p50 {p50:.0f} ms, p99 {p99:.0f} ms "
          f"(target p99 < 500 ms; from the server's simulated clock, +<= 20 ms), "
          f"{len(latencies):,} values")
    print(f"accounting: {len(account)} series, {account.missing} sequence numbers missing, "
          f"{account.repeated} repeated deliveries (QoS 1 is at least once)")
    usage = sampler.usage(t0, t1)
    if usage:
        print("CPU in cores, mean / peak of 0.5 s samples: " + ", ".join(
            f"{name} {mean:.2f} / {peak:.2f}" for name, (mean, peak) in usage.items()))
        if rate:
            print(f"bridge CPU per value: {usage['bridge'][0] / rate * 1e6:.0f} µs")
    print(f"bridge stop after SIGTERM: {stop_seconds:.1f} s; logs in {work}")
    return 0 if account.missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
