"""`factory-sim demo [SCENARIO ...]`: plants side by side, live, in a browser.

One parent process starts, as separate processes (as real machines are separate servers):
one `factory-sim serve` per plant, an embedded MQTT broker (amqtt, loopback) unless `--mqtt`
names one, one unchanged `factory-sim bridge` per plant (its own topic prefix, the plant's
name, so plants do not collide), and the dashboard (`python -m dashboard`). It prints the
URLs once everything answers, and stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from factory_cli.errors import CliError
from factory_cli.uns_dialects import DIALECTS

# The bridge configuration shipped with the package: the plant's KPIs (plant OEE on
# .../plant/kpi/OEE), shift reports and current shift, bridged besides the machines
# (docs/integrators/bridge-nodes.md)
PLANT_NODES = resources.files("mqtt_bridge") / "inputs" / "opcua" / "nodes.example.toml"

DEFAULT_SCENARIOS = ("reference-standalone", "reference-opcua")
DEFAULT_SPEED = 120.0  # an 8-hour shift in 4 minutes
MAX_PLANTS = 4
READY_TIMEOUT_S = 20.0  # give up on a child that has not answered by then
LARGE_READY_TIMEOUT_S = 150.0  # `--lines N` (load tests): 100-cell address spaces on a busy machine
STOP_TIMEOUT_S = 4.0  # SIGTERM, then SIGKILL: the whole demo is gone within 5 s
OPERATOR = "trainer"  # the dashboard's OPC UA login: methods need the operator role
PASSWORD_ENV = "FACTORY_SIM_DASHBOARD_OPCUA_PASSWORD"  # how the dashboard gets the password
OPERATOR_SECRET_ENV = "FACTORY_SIM_DASHBOARD_OPERATOR_SECRET"  # the trainer's page login


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="live demo for trainers: plants side by side in a web dashboard",
        description="Run one to four scenarios side by side (default: reference-standalone "
        "and reference-opcua, same seed), each as its own OPC UA server with its own MQTT "
        "bridge, an embedded MQTT broker and a web dashboard. Ctrl-C stops everything.",
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="scenario files or shipped names (default: "
                        + " ".join(DEFAULT_SCENARIOS) + ")")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, metavar="F",
                        help=f"simulated seconds per wall-clock second (default {DEFAULT_SPEED:g}"
                        ": a shift in 4 minutes)")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="random seed for every plant, 0 to 2^64 - 1 (default: the first "
                        "scenario's)")
    parser.add_argument("--start", default="now", metavar="WHEN",
                        help="when the plants' clocks start, the same for every plant: now "
                        "(default; points a time-series store keeps), now/shift (the start of "
                        "the shift under way, else now) or a date and time like "
                        "2026-01-05T00:00:00Z")
    parser.add_argument("--mqtt", metavar="URL",
                        help="use this MQTT broker (mqtt://HOST:PORT) instead of the embedded "
                        "one; the nodes of a clustered broker comma-separated "
                        "(mqtt://a:1883,mqtt://b:1883): the bridges and the dashboard fail over")
    parser.add_argument("--uns", default="isa95", choices=sorted(DIALECTS), metavar="NAME",
                        help="the unified namespace's dialect: " + ", ".join(sorted(DIALECTS))
                        + "; isa95 (default) is ISA-95 topics with JSON, another is published "
                        "beside it (the dashboard reads ISA-95 either way)")
    parser.add_argument("--host", default="127.0.0.1", metavar="H",
                        help="address the dashboard listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, metavar="P",
                        help="dashboard port (default 8080)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME[:PORT]",
                        help="another name (and port) browsers may reach the dashboard by, "
                        "e.g. a reverse proxy's name or a container's published port "
                        "(repeatable; without a port, any port). Requests under any other "
                        "name are refused")
    parser.add_argument("--logs", metavar="DIR", type=Path,
                        help="write the demo's logs (and its servers' state) into DIR, kept "
                        "after the demo stops (default: a new folder under the system's "
                        "temporary directory, also kept)")
    parser.add_argument("--lines", type=int, metavar="N", help=argparse.SUPPRESS)  # load tests
    parser.set_defaults(handler=demo_command)


@dataclass
class Child:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen | None = None
    ready_text: str | None = None  # a line in its log that says it is ready
    private_env: dict[str, str] = field(default_factory=dict)  # only this child gets it

    def start(self, env: dict[str, str]) -> None:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**env, **self.private_env},
                start_new_session=True,  # Ctrl-C reaches the parent, which stops all
                preexec_fn=_die_with_parent)

    def last_line(self) -> str:
        lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit code {self.process.returncode}"


@dataclass
class Plant:
    name: str
    scenario: str
    opcua_port: int
    children: list[Child] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.opcua_port}/factory-sim/"


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if the demo dies without stopping it (SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CliError(f"{what} {host}:{port}: {exc.strerror or exc} "
                           "(choose another with --port)") from None


def _broker_urls(text: str) -> list[str]:
    """The broker URLs of `--mqtt` (one, or a cluster's nodes comma-separated)."""
    from mqtt_bridge.outputs.mqtt.failover import BrokerList
    from mqtt_bridge.settings import SettingsError

    urls = [part if "://" in part else f"mqtt://{part}" for part in
            (part.strip() for part in text.split(","))]
    try:
        BrokerList.parse(",".join(urls))
    except SettingsError as exc:
        raise CliError(f"--mqtt {text}: {exc}") from None
    if not urls[0].startswith("mqtt://"):
        raise CliError(f"--mqtt {text}: expected mqtt://HOST[:PORT] (the demo speaks no TLS)")
    return urls


def _check_brokers(urls: list[str]) -> None:
    """At least one node answers (a cluster may start the demo with one node down)."""
    problems = []
    for url in urls:
        try:
            return _check_broker(url)
        except CliError as exc:
            problems.append(str(exc))
    raise CliError("; ".join(problems))


def _check_broker(url: str, timeout: float = 3.0) -> None:
    """A broker that does not answer an MQTT CONNECT is a start-up error, not a hang."""
    import paho.mqtt.client as mqtt

    from mqtt_bridge.outputs.mqtt.failover import host_and_port

    host, port = host_and_port(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"factory-sim-demo-{os.getpid()}")
    answered: list[object] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answered.append(reason)
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        raise CliError(f"cannot reach the MQTT broker at {url}: "
                       f"{exc.strerror or exc}") from None
    deadline = time.monotonic() + timeout
    while not answered and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    if not answered:
        raise CliError(f"the MQTT broker at {url} does not answer (no CONNACK in {timeout:g} s)")
    if answered[0].is_failure:
        raise CliError(f"the MQTT broker at {url} refused the connection: {answered[0]}")


def demo_command(args: argparse.Namespace) -> int:
    from factory_cli.commands.serve import check_start
    from factory_cli.scenario_files import open_scenario
    from opcua_server.pacing import MAX_SPEED

    names = args.scenarios or list(DEFAULT_SCENARIOS)
    if len(names) > MAX_PLANTS:
        raise CliError(f"{len(names)} scenarios: the demo shows 1 to {MAX_PLANTS}")
    if not (0 < args.speed <= MAX_SPEED):
        raise CliError(f"--speed {args.speed:g}: expected a number > 0 and <= {MAX_SPEED:g}")
    if not (1 <= args.port <= 65535):
        raise CliError(f"--port {args.port}: expected a TCP port 1..65535")
    if args.seed is not None:
        from factory_cli.limits import MAX_SEED, bounded

        bounded("--seed", args.seed, 0, MAX_SEED)
    check_start(args.start)
    _check_allowed_hosts(args.allowed_host)
    first = open_scenario(names[0], (), "--start", [f"start={args.start}"])
    start = first.start.isoformat()  # resolved once: the plants run on one clock
    scenarios = [first, *(open_scenario(name, (), "--start", [f"start={start}"])
                          for name in names[1:])]
    plant_names = [s.name for s in scenarios]
    if len(set(plant_names)) != len(plant_names):
        raise CliError(f"scenarios {', '.join(names)}: each plant must have its own name "
                       "(a scenario named twice?)")
    seed = scenarios[0].seed if args.seed is None else args.seed
    _check_port_free(args.host, args.port, "--port: the dashboard's address")
    if args.mqtt:
        urls = _broker_urls(args.mqtt)
        if len(urls) > 1 and args.uns == "sparkplug":
            raise CliError(f"--uns sparkplug: its output takes one broker; --mqtt names "
                           f"{len(urls)}")
        args.mqtt = ",".join(urls)
        _check_brokers(urls)
    first_shift = _first_shift_start(scenarios[0], seed)
    return asyncio.run(_run(args, names, plant_names, seed, first_shift, start,
                            [s.hierarchy for s in scenarios]))


def _check_allowed_hosts(values: list[str]) -> None:
    from dashboard.served_address import MAX_ALLOWED_HOSTS, allowed_host

    if len(values) > MAX_ALLOWED_HOSTS:
        raise CliError(f"--allowed-host: at most {MAX_ALLOWED_HOSTS} names, got {len(values)}")
    for value in values:
        try:
            allowed_host(value)
        except ValueError as exc:
            raise CliError(f"--allowed-host {exc}") from None


def _first_shift_start(scenario, seed: int) -> float:
    from factory_sim.plant import Plant as ModelPlant

    return ModelPlant(scenario, seed=seed).calendar.next_work_start(0.0)


async def _run(args, names, plant_names, seed: int, first_shift: float, start: str,
               hierarchies: list) -> int:
    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)  # its warnings are for developers
    started = time.monotonic()
    state_dir = _log_dir(args.logs)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Security on, as in a real plant: anonymous clients (the bridges) may read and subscribe,
    # the dashboard logs in as an operator to call methods (Acknowledge, Pause, ...).
    from opcua_server.users import Role, add_user

    password = secrets.token_urlsafe(12)
    operator_secret = secrets.token_urlsafe(12)  # the trainer's login to the page
    users_file = state_dir / "users.yaml"
    add_user(users_file, OPERATOR, Role.OPERATOR, password)
    python = sys.executable
    cli = [python, "-m", "factory_cli.main"]
    plants = [Plant(name, scenario, _free_port()) for name, scenario in zip(plant_names, names,
                                                                             strict=True)]
    levels = {plant.name: hierarchy for plant, hierarchy in zip(plants, hierarchies, strict=True)}
    mqtt_url = args.mqtt
    broker = None
    if mqtt_url is None:
        broker_port = _free_port()
        mqtt_url = f"mqtt://127.0.0.1:{broker_port}"
        broker = Child("broker", [python, "-m", "factory_cli.embedded_broker", "--host",
                                  "127.0.0.1", "--port", str(broker_port)],
                       state_dir / "broker.log", ready_text="ready")
    for plant in plants:
        serve = [*cli, "serve", plant.scenario, "--port", str(plant.opcua_port), "--speed",
                 f"{args.speed:g}", "--seed", str(seed), "--start", start, "--paused",
                 "--simulator-view",
                 "--users", str(users_file), "--state-dir", str(state_dir / f"opcua-{plant.name}")]
        if args.lines:
            serve += ["--lines", str(args.lines)]
        plant.children.append(Child(f"serve {plant.name}", serve,
                                    state_dir / f"serve-{plant.name}.log",
                                    ready_text="endpoint: "))
        plant.children.append(Child(
            f"bridge {plant.name}",
            [*cli, "bridge", "--opcua", plant.endpoint, "--mqtt", mqtt_url,
             "--topic-prefix", f"{plant.name}/", "--client-id", f"bridge-{plant.name}",
             "--state-dir", str(state_dir / f"bridge-{plant.name}"),
             # the plant's KPIs, shift reports and shift besides the machines ([[nodes]]),
             # under the scenario's site, area and line (the machines carry their own)
             "--config", str(PLANT_NODES), "--site", levels[plant.name].site,
             "--area", levels[plant.name].area, "--line", levels[plant.name].line,
             # One message per value (tag mode) would outrun the embedded broker's
             # acknowledgements on a large plant; batches per machine do not (docs/performance.md).
             "--mqtt-batch", "machine" if (args.lines or 1) > 1 else "tag",
             *DIALECTS[args.uns].bridge_options(plant.name, mqtt_url)],
            state_dir / f"bridge-{plant.name}.log", ready_text="bridging "))
    dashboard = Child("dashboard", [python, "-m", "dashboard", "--host", args.host, "--port",
                                    str(args.port), "--mqtt", mqtt_url, "--opcua-user", OPERATOR,
                                    "--replay", str(state_dir / "replay.json"),
                                    *[a for name in args.allowed_host
                                      for a in ("--allowed-host", name)],
                                    *[a for p in plants for a in ("--plant",
                                                                  f"{p.name}={p.endpoint}")]],
                      state_dir / "dashboard.log", ready_text="dashboard ready",
                      private_env={PASSWORD_ENV: password,
                                   OPERATOR_SECRET_ENV: operator_secret})
    # the replay strip: the same scenarios and seed, four weeks ahead (factory_cli.demo_replay)
    replay = Child("replay", [python, "-m", "factory_cli.demo_replay",
                              str(state_dir / "replay.json"), str(seed), *names],
                   state_dir / "replay.log")
    servers = [plant.children[0] for plant in plants]
    bridges = [plant.children[1] for plant in plants]
    everything = [*bridges, dashboard, *servers, *([broker] if broker else [])]

    stop = asyncio.Event()
    clean = False
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        # The dashboard takes longest to import and finds its peers on its own: start it first.
        replay.start(env)  # one-shot: it writes the strip's file and ends
        ready_s = LARGE_READY_TIMEOUT_S if args.lines else READY_TIMEOUT_S
        await _start_all([dashboard, *servers, *([broker] if broker else [])], env, stop, ready_s)
        await _start_all(bridges, env, stop, ready_s)
        shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        await _wait_for_page(f"http://{shown_host}:{args.port}/", dashboard)
        await _fast_forward(plants, first_shift, password)
        print(f"factory-sim demo: ready in {time.monotonic() - started:.1f} s "
              f"({', '.join(plant_names)} at {args.speed:g}x, seed {seed})", flush=True)
        print(f"dashboard: http://{shown_host}:{args.port}/", flush=True)
        _print_access(args.host, args.port, shown_host, operator_secret)
        for name in args.allowed_host:
            print(f"also served as: {name} (--allowed-host)", flush=True)
        print(f"mqtt: {mqtt_url}{' (embedded)' if broker else ''}", flush=True)
        for plant in plants:
            print(f"opcua {plant.name}: {plant.endpoint} (topics {plant.name}/#)", flush=True)
        if args.uns != "isa95":
            print(f"uns {args.uns} (beside ISA-95, which the dashboard reads): "
                  + ", ".join(DIALECTS[args.uns].topics(p.name) for p in plants), flush=True)
        print(f"opcua login for methods: {OPERATOR} / {password} (operator; anonymous clients "
              "may only read)", flush=True)
        print(f"logs: {state_dir} (kept after the demo stops); Ctrl-C stops the demo",
              flush=True)
        failed = await _watch(everything, stop, one_shot=[replay])
        if failed is not None:
            raise CliError(f"{failed.name} stopped: {failed.last_line()} "
                           f"(log: {failed.log})", exit_code=1)
        clean = True
    finally:
        _stop_all([*everything, replay])
        print(f"factory-sim demo: stopped{'' if clean else ' after a failure'}; logs kept in "
              f"{state_dir}", flush=True)
    return 0


def _log_dir(wanted: Path | None) -> Path:
    """The folder for the demo's logs: `--logs DIR` (created; it must not hold another
    demo's logs) or a new one in the temporary directory. Kept after the demo stops."""
    if wanted is None:
        return Path(tempfile.mkdtemp(prefix="factory-sim-demo-"))
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        probe = wanted / ".factory-sim-demo-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"--logs {wanted}: cannot write there: {exc.strerror or exc}") from None
    if (wanted / "dashboard.log").exists():
        run = time.strftime("%Y%m%d-%H%M%S")
        wanted = wanted / f"run-{run}-{os.getpid()}"
        wanted.mkdir()
    return wanted.resolve()


def _print_access(host: str, port: int, shown_host: str, secret: str) -> None:
    """Who can do what: anyone who reaches the page watches; the operator logs in to act."""
    from dashboard.served_address import WILDCARDS, lan_addresses

    print(f"operator login (this run only): http://{shown_host}:{port}/login?token={secret}"
          f"  or the password {secret} at /login", flush=True)
    if host in WILDCARDS:
        for address in lan_addresses():
            print(f"dashboard on the LAN: http://{address}:{port}/", flush=True)
        print("anyone on the LAN who opens it may watch; only a browser logged in as the "
              "operator may pause, resume, change the speed or acknowledge", flush=True)
    else:
        print("anyone who opens it may watch; only a browser logged in as the operator may "
              "pause, resume, change the speed or acknowledge", flush=True)


async def _start_all(children: list[Child], env: dict[str, str], stop: asyncio.Event,
                     ready_s: float = READY_TIMEOUT_S) -> None:
    for child in children:
        child.start(env)
    deadline = time.monotonic() + ready_s
    waiting = list(children)
    while waiting:
        if stop.is_set():
            raise KeyboardInterrupt
        for child in list(waiting):
            if child.process.poll() is not None:
                raise CliError(f"{child.name} did not start: {child.last_line()}")
            if child.ready_text in child.log.read_text(errors="replace"):
                waiting.remove(child)
        if time.monotonic() > deadline:
            raise CliError(f"{waiting[0].name} did not get ready within {ready_s:g} s "
                           f"(log: {waiting[0].log})")
        await asyncio.sleep(0.05)


async def _wait_for_page(url: str, dashboard: Child) -> None:
    """The dashboard says it is ready while its web server is still opening its socket."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).close())
            return
        except (urllib.error.URLError, OSError):
            if dashboard.process.poll() is not None or time.monotonic() > deadline:
                raise CliError(f"the dashboard does not answer at {url}: "
                               f"{dashboard.last_line()}") from None
            await asyncio.sleep(0.1)


async def _fast_forward(plants: list[Plant], first_shift: float, password: str) -> None:
    """The servers start paused (at --start): step them to the first shift, then run.

    Both plants move by the same Step, so they stay on common random numbers; the class does
    not wait through a night of idle machines.
    """
    from asyncua import Client, ua

    async def one(plant: Plant) -> None:
        client = Client(plant.endpoint, timeout=10)
        client.set_user(OPERATOR)
        client.set_password(password)
        async with client:
            ns = await client.get_namespace_index("urn:factory-sim:plant")
            simulation = client.get_node(ua.NodeId("Simulation", ns))
            if first_shift > 0:
                await simulation.call_method(ua.NodeId("Simulation/Step", ns),
                                             ua.Variant(first_shift, ua.VariantType.Double))
            await simulation.call_method(ua.NodeId("Simulation/Resume", ns))

    await asyncio.gather(*(one(plant) for plant in plants))


async def _watch(children: list[Child], stop: asyncio.Event,
                 one_shot: list[Child] = ()) -> Child | None:
    """Until Ctrl-C/SIGTERM; a child that dies on its own ends the demo (it is not restarted).
    `one_shot` children may end: they are only reaped."""
    while not stop.is_set():
        for child in one_shot:
            child.process.poll()
        for child in children:
            if child.process.poll() is not None:
                return child
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)
    return None


def _stop_all(children: list[Child]) -> None:
    """SIGTERM to every child (consumers first), SIGKILL to any still there after 4 s."""
    running = [c for c in children if c.process is not None and c.process.poll() is None]
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in running:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
