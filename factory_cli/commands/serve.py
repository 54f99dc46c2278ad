"""`factory-sim serve SCENARIO`: the plant as an OPC UA server, paced to the wall clock."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from factory_cli.durations import duration_option
from factory_cli.errors import CliError
from factory_cli.scenario_files import add_set_option
from opcua_server.pacing import MAX_SPEED

if TYPE_CHECKING:
    import asyncio

    from opcua_server.server import ServerSettings

MAX_LINES = 250
# The endpoint names opcua_server.security accepts; kept here so `--help` needs no asyncua.
POLICY_NAMES = ("None", "Basic256Sha256-Sign", "Basic256Sha256-SignAndEncrypt",
                "Aes128_Sha256_RsaOaep-Sign", "Aes128_Sha256_RsaOaep-SignAndEncrypt")
SECURITY_OPTIONS = {  # argument name -> flag, for the options that need --users
    "no_anonymous": "--no-anonymous", "certificate": "--certificate",
    "private_key": "--private-key", "trusted_clients": "--trusted-clients",
    "accept_any_client_certificate": "--accept-any-client-certificate",
    "security_policies": "--security-policy", "certificate_hosts": "--certificate-host",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run a scenario as an OPC UA server (Machinery companion spec)",
        description="Run SCENARIO paced to the wall clock and serve it over OPC UA: machines "
        "under Objects/Machines (OPC 40001-1), vendor-level cells in their vendors' "
        "namespaces, and Objects/Simulation to pause, resume, step and set the speed. "
        "Ctrl-C or SIGTERM stops it cleanly.",
    )
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario file or shipped name")
    parser.add_argument("--speed", type=float, default=1.0, metavar="F",
                        help="simulated seconds per wall-clock second (default 1: real time; "
                        f"up to {MAX_SPEED:g})")
    parser.add_argument("--host", default="127.0.0.1", metavar="H",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=4840, metavar="P",
                        help="TCP port (default 4840)")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="random seed, 0 to 2^64 - 1 (default: the scenario's `seed`)")
    parser.add_argument("--start", metavar="WHEN",
                        help="when the plant's clock starts: now (the wall clock, so that a "
                        "time-series store keeps the data and dashboards on 'the last hours' "
                        "show it), now/shift (the start of the shift under way, else now) or "
                        "a date and time like 2026-01-05T06:00:00Z (default: the scenario's "
                        "`start`, a fixed date)")
    add_set_option(parser)
    parser.add_argument("--lines", type=int, metavar="N",
                        help="multiply the production line N times (load tests)")
    parser.add_argument("--paused", action="store_true",
                        help="start paused: time moves only by Simulation.Step/Resume")
    parser.add_argument("--users", type=Path, metavar="FILE",
                        help="users file (see `factory-sim users`): turns security on — signed "
                        "and encrypted endpoints, logins with roles; anonymous clients may "
                        "only read")
    parser.add_argument("--no-anonymous", action="store_true",
                        help="with --users: refuse anonymous sessions")
    parser.add_argument("--state-dir", type=Path, default=Path(".factory-sim"), metavar="DIR",
                        help="with --users: folder for the server certificate (made on first "
                        "start) and the trusted/rejected client certificates "
                        "(default .factory-sim)")
    parser.add_argument("--certificate", type=Path, metavar="FILE",
                        help="with --users: the server certificate (DER or PEM) to use instead "
                        "of the generated one; needs --private-key")
    parser.add_argument("--private-key", type=Path, metavar="FILE",
                        help="with --certificate: its private key (PEM)")
    parser.add_argument("--trusted-clients", type=Path, metavar="DIR",
                        help="with --users: folder of trusted client certificates, re-read "
                        "when it changes (default STATE_DIR/pki/trusted; refused "
                        "certificates land in STATE_DIR/pki/rejected)")
    parser.add_argument("--accept-any-client-certificate", action="store_true",
                        help="with --users: trust every client certificate (demos only)")
    parser.add_argument("--security-policy", action="append", metavar="NAME",
                        dest="security_policies",
                        help="with --users: offer only these endpoints (repeatable): "
                        + ", ".join(POLICY_NAMES) + " (default: all)")
    parser.add_argument("--certificate-host", action="append", metavar="NAME",
                        dest="certificate_hosts",
                        help="with --users: a host name or address clients connect with, for "
                        "the generated server certificate (repeatable; it always covers this "
                        "machine's name, localhost and 127.0.0.1)")
    parser.add_argument("--history", action="store_true",
                        help="keep history of the key variables and alarms (HistoryRead)")
    parser.add_argument("--history-retention", metavar="DURATION", default="8h",
                        help="with --history: how much simulated time to keep per variable "
                        "(default 8h)")
    parser.add_argument("--history-db", type=Path, metavar="FILE",
                        help="with --history: keep variable history in this SQLite file "
                        "instead of memory (slower; survives restarts)")
    parser.add_argument("--jobs", choices=("plant", "external"), default="plant",
                        help="who dispatches job orders to the OPC UA cells: the plant's own "
                             "office (default) or clients only, e.g. 'factory-sim mes' "
                             "(the order book is then served under Objects/Plant/Orders)")
    parser.add_argument("--simulator-view", action="store_true",
                        help="also serve Objects/SimulatorView: every cell's true state and the "
                        "true KPIs, marked as the simulator's own view (for trainers' demos)")
    parser.add_argument("--test-nodes", action="store_true",
                        help="also serve Objects/TestNodes, outside the factory model: every "
                        "built-in type as scalar, array and matrix, large values, odd NodeIds, "
                        "cycling statuses, slow and fast values, writable values with ranges")
    parser.add_argument("--alarm-script", type=Path, metavar="FILE",
                        help="raise, change and clear alarms on a YAML script in simulated "
                        "time and check clients' acknowledgements, confirmations and shelving "
                        "against it (docs/integrators/test-server.md)")
    parser.add_argument("--chaos", metavar="SEED[:PROFILE]",
                        help="inject faults on a seeded schedule in simulated time (dropped "
                        "connections, closed sessions and subscriptions, Bad statuses, endpoint "
                        "restarts, clock jumps); profiles: default, connections, subscriptions, "
                        "data, or one fault's name. Each is logged and published in "
                        "Simulation/Chaos")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        default="warning",
                        help="server log level (default warning; info also logs every refused "
                        "request and login with its reason)")
    parser.set_defaults(handler=serve_command)


def _check(args: argparse.Namespace) -> None:
    if not (0 < args.speed <= MAX_SPEED):
        raise CliError(f"--speed {args.speed:g}: expected a number > 0 and <= {MAX_SPEED:g}")
    if not (1 <= args.port <= 65535):
        raise CliError(f"--port {args.port}: expected a TCP port 1..65535")
    if args.lines is not None and not (1 <= args.lines <= MAX_LINES):
        raise CliError(f"--lines {args.lines}: expected 1..{MAX_LINES}")
    if args.users is None:
        given = [flag for name, flag in SECURITY_OPTIONS.items() if getattr(args, name)]
        if given:
            raise CliError(f"{given[0]} needs --users (security is off without a users file)")
    if args.certificate is not None and args.certificate_hosts:
        raise CliError("--certificate-host is for the generated certificate, not with "
                       "--certificate (a given certificate covers the hosts it names)")
    if (args.certificate is None) != (args.private_key is None):
        raise CliError("--certificate and --private-key go together")
    for name in ("certificate", "private_key"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            raise CliError(f"--{name.replace('_', '-')} {path}: no such file")
    for policy in args.security_policies or ():
        if policy not in POLICY_NAMES:
            raise CliError(f"--security-policy {policy}: expected one of "
                           f"{', '.join(POLICY_NAMES)}")
    if args.alarm_script is not None and not args.alarm_script.is_file():
        raise CliError(f"--alarm-script {args.alarm_script}: no such file")
    if args.chaos is not None:
        from opcua_server.chaos import ChaosError, parse_chaos

        try:
            parse_chaos(args.chaos)
        except ChaosError as exc:
            raise CliError(str(exc)) from None
    if not args.history and (args.history_db is not None or args.history_retention != "8h"):
        raise CliError("--history-retention and --history-db need --history")
    args.history_retention_s = duration_option(args.history_retention, "--history-retention")
    if args.seed is not None:
        from factory_cli.limits import MAX_SEED, bounded

        bounded("--seed", args.seed, 0, MAX_SEED)
    if args.start is not None:
        check_start(args.start)


def check_start(text: str) -> None:
    """`--start`: now, now/shift or an ISO date and time (the scenario's `start` values)."""
    from datetime import datetime

    from factory_sim.wall_clock import WORDS

    if text.strip() in WORDS:
        return
    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"--start {text!r}: expected now, now/shift or a date and time like "
                       "2026-01-05T06:00:00Z") from None


def serve_command(args: argparse.Namespace) -> int:
    import asyncio

    _check(args)
    from factory_cli.scenario_files import open_scenario

    start = [f"start={args.start}"] if args.start is not None else []
    scenario = open_scenario(args.scenario, args.sets, "--start", start)
    return asyncio.run(_serve(args, scenario))


async def _serve(args: argparse.Namespace, scenario, stop: asyncio.Event | None = None) -> int:
    """Serve until SIGINT or SIGTERM (or until `stop` is set), with the measured process-wide
    tuning switched on (docs/performance.md) and undone once the server has stopped."""
    import asyncio
    import logging
    import signal

    from factory_cli.tuning import GcTuning, speedups
    from factory_sim.plant import Plant
    from opcua_server import security
    from opcua_server.asyncua_adapter import SPEEDUPS
    from opcua_server.server import SimulationServer

    logging.basicConfig(level=getattr(logging, getattr(args, "log_level", "warning").upper()),
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.ERROR)  # its warnings are for developers
    plant = Plant(scenario, seed=args.seed, lines=args.lines,
                  external_dispatch=args.jobs == "external")
    settings = _settings(args)
    server = SimulationServer(plant, settings)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    # the speed-ups go in before anything subscribes (history, clients)
    with speedups(SPEEDUPS), GcTuning() as gc_tuning:
        try:
            await server.start()
        except OSError as exc:
            raise CliError(f"cannot listen on {args.host}:{args.port}: "
                           f"{exc.strerror or exc}") from None
        except ValueError as exc:  # security or history settings (their errors name the setting)
            raise CliError(str(exc)) from None
        gc_tuning.freeze()  # the address space just built stays out of full collections
        try:
            online = len(server.machines) + len(server.vendor_machines)
            print(f"factory-sim serve: {scenario.name} ({len(plant.cells)} cells, {online} "
                  f"online) at {settings.speed:g}x{' (paused)' if settings.paused else ''}",
                  flush=True)
            print(f"endpoint: {server.endpoint}", flush=True)
            modes = await security.offered_modes(server.server)
            print(f"security: {', '.join(modes)}", flush=True)
            if settings.security is not None:
                hosts = security.served_certificate_hosts(server.server)
                print(f"certificate covers: {', '.join(hosts)} (clients must connect with one "
                      "of these; add more with --certificate-host)", flush=True)
            print(f"plant clock: from {scenario.start.isoformat()}", flush=True)
            if settings.security is None:
                print("no security: anonymous clients may call methods and write "
                      "(use --users)", flush=True)
            await stop.wait()
        finally:
            await server.stop()
    print("factory-sim serve: stopped", flush=True)
    return 0


def _settings(args: argparse.Namespace) -> ServerSettings:
    from opcua_server.server import ServerSettings

    security = history = None
    if args.users is not None:
        from opcua_server.security import SecuritySettings

        security = SecuritySettings(
            state_dir=args.state_dir, users_file=args.users,
            allow_anonymous=not args.no_anonymous,
            certificate=args.certificate, private_key=args.private_key,
            trusted_clients_dir=args.trusted_clients,
            accept_any_client_certificate=args.accept_any_client_certificate,
            **({"policies": tuple(args.security_policies)} if args.security_policies else {}),
            certificate_hosts=tuple(args.certificate_hosts or ()),
        )
    if args.history:
        from datetime import timedelta

        from opcua_server.history import HistorySettings

        history = HistorySettings(
            retention=timedelta(seconds=args.history_retention_s),
            **({"backend": "sqlite", "path": args.history_db} if args.history_db else {}),
        )
    return ServerSettings(host=args.host, port=args.port, speed=args.speed,
                          paused=args.paused, security=security, history=history,
                          simulator_view=args.simulator_view, test_nodes=args.test_nodes,
                          alarm_script=args.alarm_script, chaos=args.chaos)
