"""Data-change notifications/s from the simulator's OPC UA server to one subscribed client.

Prints, in one run:
- the simulator: the reference plant multiplied to --lines lines (25 lines = 100 cells),
  paced at --speed from Monday 06:00, served by `SimulationServer` in its own process; the
  client (this process) subscribes to every dynamic variable of every machine and counts the
  notifications that arrive during --seconds after --warmup (by default the wall time of
  three simulated days at the paced speed, so that day and night shifts weigh as they do in
  the plant: the plant's load is bursty, with every cell starting its shift at 06:00); then
  the same flat out
  (speed 1000000, the pacer's limit: the server's capacity, where the model falls behind
  the requested speed);
- a bare asyncua server in its own process with the same number of Double variables,
  written as fast as it can by the same write path (`server.write_attribute_value` with a
  fresh DataValue, the same asyncua speed-ups and gc.freeze);
- the ratio of the two capacities, simulator flat out / bare (target >= 0.7), and for each
  run notifications/s (target >= 20,000 at the paced speed) and the latency from the
  model event (or the bare write) to its notification reaching the client: the arrival of
  the publish response that carries it minus the value's ServerTimestamp, which the server
  sets when it turns the model event into a write (target p99 < 250 ms); and, for
  comparison, the same after asyncua's client has decoded the response (~9 us per
  notification in Python, which a large response adds to every value it carries).

With --job-events the client also subscribes to the Server object's events with the
bridge's event filter, job order fields included (OPC 40001-3, issue 20): the server then
builds every job order status event and sends it, beside the data changes; the events are
counted apart. With --paced-only only the first run is made (to compare data paths, e.g.
job events on and off, alternately).

Usage: .venv/bin/python benchmarks/opcua_notifications.py [--lines 25] [--speed 14000]
       [--seconds S] [--warmup 3] [--publish-ms 100] [--queue 100] [--job-events]
       [--paced-only]
Figures drift between machines; compare the ratio, measured in one run. No assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from asyncua import Client, Server, ua
from asyncua.common.subscription import Subscription
from process_cpu import cpu_seconds

from factory_cli.tuning import GcTuning, speedups
from factory_sim.shipped import shipped_scenarios_dir
from opcua_server.asyncua_adapter import SPEEDUPS

PROJECT = Path(__file__).resolve().parents[1]
MAX_SPEED = 1_000_000.0  # as fast as the server can go (the pacer's limit): its capacity


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- server processes
async def simulator_server(port: int, lines: int, speed: float, tuning: GcTuning) -> None:
    from factory_sim.plant import Plant
    from factory_sim.scenario import load_scenario
    from opcua_server.server import ServerSettings, SimulationServer

    plant = Plant(load_scenario(shipped_scenarios_dir() / "reference-opcua.yaml"), lines=lines)
    server = SimulationServer(plant, ServerSettings(port=port, speed=speed, paused=True))
    await server.start()
    tuning.freeze()  # as `factory-sim serve` does
    aspace = server.server.iserver.aspace
    plant_ns = server.ns.plant
    cells = tuple(f"{cell}/" for cell in plant.cells)
    nodes = [
        nodeid.to_string() for nodeid in list(aspace.keys())
        if nodeid.NamespaceIndex == plant_ns and isinstance(nodeid.Identifier, str)
        and nodeid.Identifier.startswith(cells)
        and "/Identification" not in nodeid.Identifier
        and not nodeid.Identifier.endswith("Arguments")
        and aspace.read_attribute_value(nodeid, ua.AttributeIds.NodeClass).Value.Value
        == ua.NodeClass.Variable
    ]
    print(json.dumps({"endpoint": server.endpoint, "nodes": nodes,
                      "plant_ns": plant_ns}), flush=True)
    await asyncio.Event().wait()


async def bare_server(port: int, count: int, tuning: GcTuning) -> None:
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{port}/bare/"
    server.set_endpoint(endpoint)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:bare")
    folder = await server.nodes.objects.add_folder(ua.NodeId("bare", ns), "bare")
    nodes = [ua.NodeId(f"v{i}", ns) for i in range(count)]
    for nodeid in nodes:
        await folder.add_variable(nodeid, nodeid.Identifier, 0.0)
    await server.start()
    tuning.freeze()
    print(json.dumps({"endpoint": endpoint, "nodes": [n.to_string() for n in nodes]}),
          flush=True)
    write = server.write_attribute_value
    value = 0.0
    while True:
        value += 1.0
        for index, nodeid in enumerate(nodes):
            now = datetime.now(UTC)
            await write(nodeid, ua.DataValue(ua.Variant(value, ua.VariantType.Double),
                                             SourceTimestamp=now, ServerTimestamp=now))
            if index % 500 == 499:
                await asyncio.sleep(0)
        await asyncio.sleep(0)


# ---------------------------------------------------------------- the client
class CountingSubscription(Subscription):
    """Counts notifications and their latency straight from the publish responses, without
    asyncua's per-notification task (docs/performance.md, bridge lever 1): the client must not
    be what is measured.

    Latency is taken twice per sampled notification: when the publish response carrying it
    has arrived (`arrived`, stamped by `stamp_arrivals` before asyncua decodes the response)
    and after asyncua has decoded it (about 9 us per notification, so ~90 ms for a response
    of 10,000: a property of this Python client, not of the server)."""

    counting = False
    count = 0
    events = 0
    arrived: datetime | None = None
    latencies: list[float]
    decoded_latencies: list[float]

    def stamp_arrivals(self) -> None:
        session = self.server  # asyncua's name for the client's UaSession
        send = session._send_request

        async def send_and_stamp(request, *args, **kwargs):
            data = await send(request, *args, **kwargs)
            if isinstance(request, ua.PublishRequest):
                self.arrived = datetime.now(UTC)
            return data

        session._send_request = send_and_stamp  # the session looks it up per request

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        data = publish_result.NotificationMessage.NotificationData
        if not data or not self.counting:
            return
        now = datetime.now(UTC)
        arrived = self.arrived or now
        for notification in data:
            if isinstance(notification, ua.EventNotificationList):
                self.events += len(notification.Events)
            elif isinstance(notification, ua.DataChangeNotification):
                items = notification.MonitoredItems
                self.count += len(items)
                for item in items[:: max(1, len(items) // 50)]:  # a sample per response
                    stamp = item.Value.ServerTimestamp
                    if stamp is not None:
                        self.latencies.append((arrived - stamp).total_seconds())
                        self.decoded_latencies.append((now - stamp).total_seconds())


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    if not latencies:
        return float("nan"), float("nan")
    ordered = sorted(latencies)
    return 1000 * statistics.median(ordered), 1000 * ordered[int(0.99 * (len(ordered) - 1))]


async def measure(info: dict, args, simulated: bool) -> dict:
    # a generous watchdog: under full load a 1 s probe is not what is being measured
    async with Client(info["endpoint"], timeout=30, watchdog_intervall=10.0) as client:
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=args.publish_ms, RequestedLifetimeCount=10000,
            RequestedMaxKeepAliveCount=client.get_keepalive_count(args.publish_ms),
            MaxNotificationsPerPublish=10000, PublishingEnabled=True, Priority=0)
        subscription = CountingSubscription(client.uaclient.session, params, handler=object())
        subscription.latencies, subscription.decoded_latencies = [], []
        subscription.stamp_arrivals()
        await subscription.init()
        nodes = [client.get_node(ua.NodeId.from_string(n)) for n in info["nodes"]]
        for start in range(0, len(nodes), 1000):
            await subscription.subscribe_data_change(nodes[start:start + 1000],
                                                     queuesize=args.queue)
        if args.job_events:  # as the bridge subscribes them (mqtt_bridge/inputs/opcua/jobs.py)
            from mqtt_bridge.inputs.opcua.events import event_filter
            from mqtt_bridge.inputs.opcua.jobs import job_namespace

            jobs_ns = job_namespace(await client.get_namespace_array())
            await subscription.subscribe_events(client.nodes.server,
                                                evfilter=event_filter(jobs_ns), queuesize=10000)
        # a second PublishRequest in flight, as production clients keep (asyncua's loop sends
        # the next one only after handling a response): the server never waits for the
        # client to decode before it can publish again
        extra_publisher = asyncio.create_task(client.uaclient.session._publish_loop())
        clock = None
        if simulated:
            ns = info["plant_ns"]
            sim = client.get_node(ua.NodeId("Simulation", ns))

            def child(name):
                return client.get_node(ua.NodeId(f"Simulation/{name}", ns))

            clock = child("SimulatedTime")
            await sim.call_method(child("Step"), ua.Variant(6 * 3600.0 - 60.0))
            await sim.call_method(child("SetSpeed"), ua.Variant(float(args.speed)))
            await sim.call_method(child("Resume"))
        await asyncio.sleep(args.warmup)
        sim_before = await clock.read_value() if clock else None
        subscription.count = subscription.events = 0
        subscription.latencies, subscription.decoded_latencies = [], []
        subscription.counting = True
        started = time.perf_counter()
        server_cpu, client_cpu = cpu_seconds(info["pid"]), time.process_time()
        await asyncio.sleep(args.seconds)
        subscription.counting = False
        elapsed = time.perf_counter() - started
        server_cpu = (cpu_seconds(info["pid"]) - server_cpu) / elapsed
        client_cpu = (time.process_time() - client_cpu) / elapsed
        sim_after = await clock.read_value() if clock else None
        extra_publisher.cancel()
        p50, p99 = percentiles(subscription.latencies)
        decoded_p50, decoded_p99 = percentiles(subscription.decoded_latencies)
        result = {"items": len(nodes), "per_s": subscription.count / elapsed,
                  "p50_ms": p50, "p99_ms": p99,
                  "decoded_p50_ms": decoded_p50, "decoded_p99_ms": decoded_p99,
                  "server_cpu": server_cpu, "client_cpu": client_cpu,
                  "events_per_s": subscription.events / elapsed}
        if clock is not None:
            result["sim_speed"] = (sim_after - sim_before) / elapsed
        return result


def start_server(role: str, port: int, args) -> tuple[subprocess.Popen, dict]:
    command = [sys.executable, __file__, "--role", role, "--port", str(port),
               "--lines", str(args.lines), "--speed", str(args.speed),
               "--count", str(args.count)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=PROJECT,
                               env={**os.environ, "PYTHONPATH": str(PROJECT)})
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit(f"{role} did not start")
    return process, json.loads(line)


def run_one(role: str, args, simulated: bool) -> dict:
    process, info = start_server(role, free_port(), args)
    try:
        return asyncio.run(measure({**info, "pid": process.pid}, args, simulated))
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=("client", "sim-server", "bare-server"),
                        default="client", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=int, default=25)
    parser.add_argument("--speed", type=float, default=14000.0)
    parser.add_argument("--seconds", type=float,
                        help="measuring window (default: three simulated days at --speed)")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--publish-ms", type=float, default=100.0)
    parser.add_argument("--queue", type=int, default=100)
    parser.add_argument("--job-events", action="store_true",
                        help="also subscribe to the job order status events, as the bridge")
    parser.add_argument("--paced-only", action="store_true", help="only the paced run")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 3 * 86400 / args.speed
    if args.role != "client":  # a server opts in to the process-wide tuning as `serve` does
        with speedups(SPEEDUPS), GcTuning() as tuning:
            if args.role == "sim-server":
                asyncio.run(simulator_server(args.port, args.lines, args.speed, tuning))
            else:
                asyncio.run(bare_server(args.port, args.count, tuning))
        return

    sim = run_one("sim-server", args, simulated=True)
    if args.paced_only:
        print(f"simulator, paced, job events {'on' if args.job_events else 'off'}: "
              f"{sim['per_s']:,.0f} notifications/s  p50 {sim['p50_ms']:.0f} ms  p99 "
              f"{sim['p99_ms']:.0f} ms  events {sim['events_per_s']:,.1f}/s  speed "
              f"{sim['sim_speed']:,.0f}  CPU server {sim['server_cpu']:.0%}  "
              f"({sim['items']} monitored variables)")
        return
    paced_speed, args.speed = args.speed, MAX_SPEED
    flat_out = run_one("sim-server", args, simulated=True)
    args.speed = paced_speed
    args.count = sim["items"]
    bare = run_one("bare-server", args, simulated=False)
    print(f"OPC UA notifications to one client ({args.publish_ms:g} ms publishing, "
          f"queue {args.queue}, {args.seconds:g} s after {args.warmup:g} s warm-up; "
          f"{args.lines * 4} cells, {sim['items']} monitored variables)")

    def figures(result: dict) -> str:
        return (f"{result['per_s']:>7,.0f} notifications/s  latency p50 {result['p50_ms']:5.0f} "
                f"ms p99 {result['p99_ms']:5.0f} ms (decoded: p50 {result['decoded_p50_ms']:4.0f}"
                f" p99 {result['decoded_p99_ms']:4.0f})  CPU server {result['server_cpu']:4.0%} "
                f"client {result['client_cpu']:4.0%}")

    for label, result in (("simulator, paced  ", sim), ("simulator, flat out", flat_out)):
        print(f"  {label}: {figures(result)}  speed {result['sim_speed']:,.0f}")
    print(f"  bare asyncua       : {figures(bare)}  {bare['items']} Double variables")
    print(f"  ratio simulator flat out / bare: {flat_out['per_s'] / bare['per_s']:.2f}")
    print("  targets: >= 20,000 notifications/s and p99 < 250 ms at the paced speed; "
          "ratio >= 0.7")


if __name__ == "__main__":
    main()
