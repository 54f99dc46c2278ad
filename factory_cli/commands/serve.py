"""`factory-sim serve SCENARIO`: the plant as an OPC UA server, paced to the wall clock."""

from __future__ import annotations

import argparse
from pathlib import Path

from factory_cli.errors import CliError

MAX_LINES = 250


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
                        "up to 100000)")
    parser.add_argument("--host", default="127.0.0.1", metavar="H",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=4840, metavar="P",
                        help="TCP port (default 4840)")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="random seed (default: the scenario's `seed`)")
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
                        help="with --users: folder for the server certificate and the "
                        "trusted/rejected client certificates (default .factory-sim)")
    parser.add_argument("--history", action="store_true",
                        help="keep history of the key variables and alarms (HistoryRead)")
    parser.set_defaults(handler=serve_command)


def _check(args: argparse.Namespace) -> None:
    if not (0 < args.speed <= 100_000):
        raise CliError(f"--speed {args.speed:g}: expected a number > 0 and <= 100000")
    if not (1 <= args.port <= 65535):
        raise CliError(f"--port {args.port}: expected a TCP port 1..65535")
    if args.lines is not None and not (1 <= args.lines <= MAX_LINES):
        raise CliError(f"--lines {args.lines}: expected 1..{MAX_LINES}")
    if args.no_anonymous and args.users is None:
        raise CliError("--no-anonymous needs --users (nobody could log in)")


def serve_command(args: argparse.Namespace) -> int:
    import asyncio

    _check(args)
    from factory_cli.scenario_files import open_scenario

    scenario = open_scenario(args.scenario)
    return asyncio.run(_serve(args, scenario))


async def _serve(args: argparse.Namespace, scenario) -> int:
    import asyncio
    import logging
    import signal

    from factory_sim.plant import Plant
    from opcua_server.server import ServerSettings, SimulationServer

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.ERROR)  # its warnings are for developers
    security = history = None
    if args.users is not None:
        from opcua_server.security import SecuritySettings

        security = SecuritySettings(state_dir=args.state_dir, users_file=args.users,
                                    allow_anonymous=not args.no_anonymous)
    if args.history:
        from opcua_server.history import HistorySettings

        history = HistorySettings()
    plant = Plant(scenario, seed=args.seed, lines=args.lines)
    settings = ServerSettings(host=args.host, port=args.port, speed=args.speed,
                              paused=args.paused, security=security, history=history)
    server = SimulationServer(plant, settings)
    try:
        await server.start()
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    except ValueError as exc:  # security or history settings (their errors name the setting)
        raise CliError(str(exc)) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    online = len(server.machines) + len(server.vendor_machines)
    print(f"factory-sim serve: {scenario.name} ({len(plant.cells)} cells, {online} online) "
          f"at {settings.speed:g}x{' (paused)' if settings.paused else ''}", flush=True)
    print(f"endpoint: {server.endpoint}", flush=True)
    print(f"security: {', '.join(await server.security_modes())}", flush=True)
    if security is None:
        print("no security: anonymous clients may call methods and write (use --users)",
              flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
    print("factory-sim serve: stopped", flush=True)
    return 0
