"""How the multi-site layout scales on one machine: N sites, each its own `factory-sim serve`
process and its own `factory-sim bridge`, into one Mosquitto and one VictoriaMetrics.

    .venv/bin/python benchmarks/multisite_throughput.py [--sites 1,2,3] [--lines 10]
        [--speed 10000] [--warmup 10] [--duration 20] [--batch machine|tag]
        [--broker mosquitto|nats-cluster]

For each N in `--sites` it starts Mosquitto and VictoriaMetrics afresh (free loopback ports, as
the tests do), the first N sites of the shipped multisite/ (Lyon, Brno, Porto; each with
`--lines L` at `--speed S`, so each site offers the same load), a bridge per site (QoS 1, its
own client id, enterprise acme-metal, line protocol to VictoriaMetrics), and one paho
subscriber for all. After the warm-up it measures for `--duration` seconds:

  * aggregate tag updates/s received by the subscriber (updates inside machine-mode batches
    counted one by one), and per site;
  * time-series rows/s VictoriaMetrics ingested (its own counter);
  * latency from the server turning a model event into a value (serverTimestamp) to the
    subscriber, p50 and p99 over all sites;
  * sequence accounting per topic: after the window the servers stop, the bridges deliver
    what they hold and stop; every topic's numbers must run 1..max (missing, repeated);
  * CPU of the servers, the bridges, Mosquitto and VictoriaMetrics (in cores).
With `--broker nats-cluster` the broker is a 3-node NATS JetStream cluster with MQTT
(tests/cluster_brokers.py) instead of Mosquitto: every bridge gets the three nodes, site i's
list starting at node i (one bridge per node), the subscriber reads from the first node, and
the "broker" CPU column sums the three nodes.
The machine has a fixed number of cores: the table shows how throughput grows with the number
of site processes until they run out. Figures depend on the machine; run it on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bridge_throughput import CpuSampler, Recorder, ingested_rows, percentile  # noqa: E402
from uns_updates import SequenceAccount, updates  # noqa: E402

from tests.cluster_brokers import NatsCluster  # noqa: E402
from tests.services import Mosquitto, VictoriaMetrics, free_port  # noqa: E402
from tests.stack.processes import start, start_server, stop  # noqa: E402

SITES = ("lyon", "brno", "porto")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", default="1,2,3", help="numbers of sites to run, e.g. 1,2,3")
    parser.add_argument("--lines", type=int, default=10, help="production lines per site")
    parser.add_argument("--speed", type=float, default=10000.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--batch", choices=("machine", "tag"), default="machine",
                        help="the bridges' MQTT mode (default machine)")
    parser.add_argument("--broker", choices=("mosquitto", "nats-cluster"), default="mosquitto",
                        help="one Mosquitto (default) or a 3-node NATS JetStream cluster")
    args = parser.parse_args()
    counts = [int(n) for n in args.sites.split(",")]
    if not all(1 <= n <= len(SITES) for n in counts):
        parser.error(f"--sites: each number must be 1..{len(SITES)}")
    print(f"{os.cpu_count()} cores; per site {args.lines} lines (x4 cells) at "
          f"{args.speed:g}x, bridges in {args.batch} mode, broker {args.broker}; "
          f"{args.duration:g} s measured after {args.warmup:g} s")
    rows = [measure(n, args) for n in counts]
    print()
    print(" N  tag updates/s  per site           rows/s    p50 ms  p99 ms  missing  repeated"
          "  CPU servers  bridges  broker     VM")
    for row in rows:
        print(f"{row['n']:2d} {row['rate']:14,.0f}  {row['per_site']:17s} {row['rows']:9,.0f} "
              f"{row['p50']:8.0f} {row['p99']:7.0f} {row['missing']:8d} {row['repeated']:9d}"
              f"  {row['cpu']['servers']:11.2f} {row['cpu']['bridges']:8.2f} "
              f"{row['cpu']['broker']:10.2f} {row['cpu']['VictoriaMetrics']:4.2f}")
    return 0 if all(row["missing"] == 0 for row in rows) else 1


def measure(n: int, args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"multisite-bench-{n}-"))
    database = VictoriaMetrics(work / "victoria-metrics")
    if args.broker == "nats-cluster":
        cluster = NatsCluster(work / "nats")
        nodes = cluster.nodes
        broker = nodes[0]
        start_broker, stop_broker = cluster.start, cluster.stop
    else:
        broker = Mosquitto(work / "mosquitto")
        nodes = [broker]
        start_broker, stop_broker = broker.start, broker.stop
    start_broker()
    database.start()
    servers, bridges = [], []
    recorder = sampler = None
    try:
        recorder = Recorder(broker)
        for index, site in enumerate(SITES[:n]):
            port = free_port()
            first = index % len(nodes)  # each bridge starts on its own node
            mqtt_url = ",".join(node.url for node in nodes[first:] + nodes[:first])
            servers.append(start_server(
                ["serve", f"multisite/{site}", "--lines", str(args.lines),
                 "--speed", str(args.speed), "--port", str(port)], port,
                work / f"serve-{site}.log", timeout=120))
            bridges.append(start(
                ["bridge", "--opcua", f"opc.tcp://127.0.0.1:{port}", "--mqtt", mqtt_url,
                 "--mqtt-batch", args.batch, "--influx", database.url,
                 "--enterprise", "acme-metal", "--client-id", f"bridge-{site}",
                 "--state-dir", str(work / f"bridge-{site}"), "--log-level", "WARNING"],
                work / f"bridge-{site}.log"))
        pids = {**{f"server {i}": p.pid for i, p in enumerate(servers)},
                **{f"bridge {i}": p.pid for i, p in enumerate(bridges)},
                **{f"broker {i}": node.pid for i, node in enumerate(nodes)},
                "VictoriaMetrics": database.pid}
        sampler = CpuSampler(pids)
        time.sleep(args.warmup)
        for process in servers + bridges:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args} stopped; logs in {work}")
        first, rows_before, t0 = len(recorder.messages), ingested_rows(database), time.time()
        time.sleep(args.duration)
        last, rows_after, t1 = len(recorder.messages), ingested_rows(database), time.time()
        sampler.stop()
        stop(servers)
        previous = -1
        while (count := len(recorder.messages)) != previous:  # the bridges drain
            previous = count
            time.sleep(2)
        stop(bridges)
        time.sleep(1)
    finally:
        stop(servers + bridges)
        if recorder is not None:
            recorder.close()
        if sampler is not None:
            sampler.stop()
        stop_broker()
        database.stop()

    account = SequenceAccount()
    latencies: list[float] = []
    per_site: dict[str, int] = {}
    for index, received, topic, update in updates(recorder.messages):
        account.add(topic, update["seq"])
        if first <= index < last:
            site = topic.split("/")[1]
            per_site[site] = per_site.get(site, 0) + 1
            stamp = update.get("serverTimestamp")
            if stamp:
                latencies.append(received - datetime.fromisoformat(stamp).timestamp())
    window = t1 - t0
    usage = sampler.usage(t0, t1)

    def cores(prefix: str) -> float:
        return sum(mean for name, (mean, _peak) in usage.items() if name.startswith(prefix))

    row = {
        "n": n,
        "rate": sum(per_site.values()) / window,
        "per_site": "/".join(f"{per_site.get(s, 0) / window / 1000:.1f}k" for s in SITES[:n]),
        "rows": (rows_after - rows_before) / window,
        "p50": percentile(latencies, 0.5) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "missing": account.missing,
        "repeated": account.repeated,
        "cpu": {"servers": cores("server"), "bridges": cores("bridge"),
                "broker": cores("broker"), "VictoriaMetrics": cores("VictoriaMetrics")},
    }
    print(f"N={n}: {row['rate']:,.0f} tag updates/s ({row['per_site']}), p99 "
          f"{row['p99']:.0f} ms, {row['missing']} missing; logs in {work}", flush=True)
    return row


if __name__ == "__main__":
    sys.exit(main())
