"""How fast the bridge's delivery side is without the OPC UA side: journal -> Mosquitto (QoS 1)
and VictoriaMetrics, and where the time goes.

    .venv/bin/python benchmarks/bridge_delivery.py [--samples 100000] [--cells 100] [--rate 12000]

Starts Mosquitto and VictoriaMetrics (as the tests do, on free loopback ports) and builds
`--samples` samples of a plant of `--cells` machines (30 tags each, ints, floats and strings,
like the simulator's). Then, each in this one process as in the bridge:

  * append: journal appends (what the OPC UA source pays per sample), CPU per sample;
  * mqtt / timeseries / both / sparkplug: a backlog of all samples drained by the sink(s)
    until the peer confirmed the last one, rate and CPU per sample;
  * paced: samples appended at `--rate` per second for `--duration` seconds while both sinks
    run, as the bridge does under load: the rate delivered, the backlog at the end, and the
    append-to-confirmation lag (p50, p99) of every MQTT confirmation;
  * bare paho: the same topics and payloads published by one plain paho client, QoS 1,
    until the last PUBACK (the ceiling for one connection).

Every phase checks that each sink confirmed everything (a benchmark that loses data measures
nothing). Figures drift between machines: compare the lines of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mqtt_bridge.journal import Journal  # noqa: E402
from mqtt_bridge.outputs.mqtt import payload  # noqa: E402
from mqtt_bridge.outputs.mqtt.settings import MqttSettings  # noqa: E402
from mqtt_bridge.outputs.mqtt.sink import MqttSink  # noqa: E402
from mqtt_bridge.outputs.sparkplug.settings import SparkplugSettings  # noqa: E402
from mqtt_bridge.outputs.sparkplug.sink import SparkplugSink  # noqa: E402
from mqtt_bridge.outputs.timeseries.settings import InfluxSettings  # noqa: E402
from mqtt_bridge.outputs.timeseries.sink import TimeSeriesSink  # noqa: E402
from mqtt_bridge.sample import MachinePath, Sample  # noqa: E402
from tests.services import Mosquitto, VictoriaMetrics  # noqa: E402

TAGS = [("state", "CurrentState", "s"), ("state", "Mode", "s")] + [
    (group, f"{name}{i}", kind)
    for group, name, kind in (("counters", "Parts", "i"), ("energy", "Power", "f"),
                              ("monitoring", "Temperature", "f"))
    for i in range(8)
] + [("kpi", f"Kpi{i}", "f") for i in range(4)]


def make_samples(count: int, cells: int, seed: int = 1) -> list[Sample]:
    """`count` samples cycling over `cells` machines x 30 tags, values like the simulator's."""
    rng = random.Random(seed)
    machines = [
        MachinePath("acme", "plant1", f"area{c % 4}", f"line{c // 4}", f"cell{c}",
                    ("PunchLaserType", "PressBrakeType", "CobotType", "PackingType")[c % 4])
        for c in range(cells)
    ]
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        machine = machines[(i // len(TAGS)) % cells]
        group, tag, kind = TAGS[i % len(TAGS)]
        value: object = (rng.choice(["Idle", "Executing", "Suspended"]) if kind == "s"
                         else i if kind == "i" else round(rng.uniform(0, 1000), 3))
        t = now + timedelta(microseconds=i)
        out.append(Sample(machine, group, tag, value, t, t, "Good", f"ns=4;i={6000 + i % 3000}"))
    return out


def restamped(samples: list[Sample]) -> list[Sample]:
    """The same samples with the server timestamp "now" (the paced phase measures lag)."""
    now = datetime.now(UTC)
    return [Sample(s.machine, s.group, s.tag, s.value, s.source_time, now, s.status, s.node_id)
            for s in samples]


class Meter:
    """Wall time and this process's CPU time (all threads) between start() and stop()."""

    def __enter__(self) -> Meter:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def report(name: str, count: int, meter: Meter, extra: str = "") -> None:
    print(f"{name:<28}{count / meter.wall:>10,.0f} /s   {meter.cpu / count * 1e6:6.1f} µs CPU each"
          f"   ({count:,} in {meter.wall:.2f} s){extra}")


def append_all(journal: Journal, samples: list[Sample], batch: int = 500) -> None:
    for start in range(0, len(samples), batch):
        journal.append(samples[start:start + batch])
    journal.commit()


def sinks_for(journal: Journal, which: str, broker: Mosquitto, database: VictoriaMetrics,
              args: argparse.Namespace) -> list:
    sinks: list = []
    if which in ("mqtt", "both"):
        sinks.append(MqttSink(journal, MqttSettings(url=broker.url, client_id="bench",
                                                    max_inflight=args.inflight)))
    if which in ("timeseries", "both"):
        sinks.append(TimeSeriesSink(journal, InfluxSettings(url=database.url,
                                                            batch_size=args.batch)))
    if which == "sparkplug":  # Sparkplug B: QoS 0 DDATA per machine and round, confirmed
        sinks.append(SparkplugSink(journal, SparkplugSettings(url=broker.url)))
    return sinks


async def drain(journal: Journal, sinks: list) -> None:
    async with contextlib_stack(sinks):
        for sink in sinks:
            if not await sink.flush(timeout=600):
                raise RuntimeError(f"{sink.cursor} did not confirm everything: {sink.stats()}")


def contextlib_stack(sinks: list):
    import contextlib

    stack = contextlib.AsyncExitStack()

    class _Stack:
        async def __aenter__(self):
            await stack.__aenter__()
            for sink in sinks:
                await stack.enter_async_context(sink)

        async def __aexit__(self, *exc):
            return await stack.__aexit__(*exc)

    return _Stack()


def backlog_phase(which: str, samples: list[Sample], work: Path, broker: Mosquitto,
                  database: VictoriaMetrics, args: argparse.Namespace) -> None:
    with Journal(work / f"{which}.journal", max_items=len(samples) + 1) as journal:
        sinks = sinks_for(journal, which, broker, database, args)
        with Meter() as meter:  # the sinks' encoders run here, once per item and sink
            append_all(journal, samples)
        report(f"{which} (append)", len(samples), meter)
        with Meter() as meter:
            asyncio.run(drain(journal, sinks))
        report(f"{which} (backlog)", len(samples), meter)


def paced_phase(samples: list[Sample], work: Path, broker: Mosquitto,
                database: VictoriaMetrics, args: argparse.Namespace) -> None:
    async def run() -> tuple[int, int, list[float], Meter]:
        with Journal(work / "paced.journal", max_items=10_000_000) as journal:
            sinks = sinks_for(journal, args.paced_sinks, broker, database, args)
            appended: list[tuple[float, int]] = []  # (append time, last rowid)
            lags: list[float] = []
            mqtt = sinks[0]
            async with contextlib_stack(sinks):
                loop = asyncio.get_running_loop()
                tick = 0.05
                per_tick = max(1, int(args.rate * tick))
                meter = Meter().__enter__()
                start = loop.time()
                sent = 0
                index = 0
                next_probe = 0
                while loop.time() - start < args.duration:
                    batch = restamped(samples[index:index + per_tick])
                    index = (index + per_tick) % max(1, len(samples) - per_tick)
                    journal.append(batch)
                    sent += len(batch)
                    appended.append((loop.time(), journal.last_rowid))
                    acked = journal.cursors[mqtt.cursor]
                    while next_probe < len(appended) and appended[next_probe][1] <= acked:
                        lags.append(loop.time() - appended[next_probe][0])
                        next_probe += 1
                    elapsed = loop.time() - start
                    await asyncio.sleep(max(0.0, sent / args.rate - elapsed))
                backlog = {sink.cursor: journal.last_rowid - journal.cursors[sink.cursor]
                           for sink in sinks}
                for sink in sinks:
                    if not await sink.flush(timeout=600):
                        raise RuntimeError(f"{sink.cursor} lost data: {sink.stats()}")
                meter.__exit__()
                return sent, backlog, lags, meter

    sent, backlog, lags, meter = asyncio.run(run())
    lags.sort()
    p50 = lags[len(lags) // 2] * 1000 if lags else float("nan")
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000 if lags else float("nan")
    report(f"paced {args.rate:,}/s, {args.paced_sinks}", sent, meter,
           f"\n{'':28}backlog when the source stopped: {backlog}; append -> confirmed by "
           f"{args.paced_sinks.replace('both', 'MQTT')} "
           f"lag p50 {p50:.0f} ms, p99 {p99:.0f} ms (batches still queued at the end excluded)")


def bare_paho(samples: list[Sample], broker: Mosquitto, inflight: int) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    # At most 50,000: paho queues every publish() and its packet ids wrap at 65,535.
    messages = [(payload.topic(s), payload.encode(s, i)) for i, s in enumerate(samples[:50_000], 1)]
    done = threading.Event()
    acked = [0]

    def on_publish(*_args: object) -> None:
        acked[0] += 1
        if acked[0] == len(messages):
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare")
    client.max_inflight_messages_set(inflight)
    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    with Meter() as meter:
        for topic, body in messages:
            client.publish("bare/" + topic, body, qos=1, retain=True)
        if not done.wait(300):
            raise RuntimeError(f"bare paho: only {acked[0]} of {len(messages)} acknowledged")
    client.disconnect()
    client.loop_stop()
    report(f"bare paho QoS 1 (in-flight {inflight})", len(messages), meter)


def cost_split(samples: list[Sample], work: Path) -> None:
    """CPU per sample of the steps on the hot path, each measured alone."""
    from mqtt_bridge.outputs.timeseries.line_protocol import line

    n = min(len(samples), 50_000)
    part = samples[:n]
    rows: list[tuple[str, float]] = []
    with Meter() as m:
        for i, s in enumerate(part):
            payload.encode(s, i)
    rows.append(("MQTT payload (JSON)", m.cpu))
    with Meter() as m:
        for i, s in enumerate(part):
            line(s, i)
    rows.append(("line protocol", m.cpu))
    with Journal(work / "split.journal", max_items=n + 1) as journal:
        journal.register("a", payload.encode_text)
        with Meter() as m:
            append_all(journal, part)
        rows.append(("journal append + commit", m.cpu))
        with Meter() as m:
            after = 0
            while entries := journal.read("a", 1000, after=after):
                after = entries[-1].rowid
        rows.append(("journal read (all columns)", m.cpu))
    print("cost split (CPU per sample, each step alone):")
    for name, cpu in rows:
        print(f"  {name:<26}{cpu / n * 1e6:6.1f} µs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--rate", type=int, default=12_000, help="paced phase: samples/s")
    parser.add_argument("--duration", type=float, default=20.0, help="paced phase: seconds")
    parser.add_argument("--inflight", type=int, default=MqttSettings.max_inflight)
    parser.add_argument("--batch", type=int, default=InfluxSettings.batch_size)
    parser.add_argument("--phases", default="split,mqtt,timeseries,both,paced,bare")
    parser.add_argument("--paced-sinks", choices=("both", "sparkplug"), default="both",
                        help="paced phase: MQTT and time series (default), or Sparkplug alone")
    args = parser.parse_args()
    phases = args.phases.split(",")

    work = Path(tempfile.mkdtemp(prefix="bridge-delivery-"))
    samples = make_samples(args.samples, args.cells)
    print(f"{args.samples:,} samples of {args.cells} cells x {len(TAGS)} tags; "
          f"payload ~{statistics.fmean(len(payload.encode(s, 1)) for s in samples[:1000]):.0f} "
          f"bytes; MQTT in-flight {args.inflight}, time-series batch {args.batch}")
    broker = Mosquitto(work / "mosquitto")
    database = VictoriaMetrics(work / "victoria-metrics")
    broker.start()
    database.start()
    try:
        if "split" in phases:
            cost_split(samples, work)
        for which in ("mqtt", "timeseries", "both", "sparkplug"):
            if which in phases:
                backlog_phase(which, samples, work, broker, database, args)
        if "paced" in phases:
            paced_phase(samples, work, broker, database, args)
        if "bare" in phases:
            bare_paho(samples, broker, 20)  # paho's default, its fastest (docs/performance.md)
    finally:
        broker.stop()
        database.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
