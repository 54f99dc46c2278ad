"""`python -m dashboard --mqtt URL --plant NAME=OPCUA_URL [...] [--host H] [--port P]
[--allowed-host NAME[:PORT] ...] [--opcua-user NAME]` (password in
$FACTORY_SIM_DASHBOARD_OPCUA_PASSWORD; the operator's login secret in
$FACTORY_SIM_DASHBOARD_OPERATOR_SECRET, else one is made and printed)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

PASSWORD_ENV = "FACTORY_SIM_DASHBOARD_OPCUA_PASSWORD"  # not on the command line: ps shows that
OPERATOR_SECRET_ENV = "FACTORY_SIM_DASHBOARD_OPERATOR_SECRET"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dashboard")
    parser.add_argument("--mqtt", required=True, metavar="URL",
                        help="the MQTT broker (mqtt://HOST:PORT), or the nodes of a clustered "
                        "broker comma-separated (it fails over)")
    parser.add_argument("--plant", action="append", required=True, metavar="NAME=OPCUA_URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME[:PORT]",
                        help="another name (and port) browsers reach the page by: a reverse "
                        "proxy's, or a container's published port (repeatable)")
    parser.add_argument("--opcua-user", metavar="NAME",
                        help="OPC UA login for commands (an operator); the password comes from "
                        f"${PASSWORD_ENV}")
    parser.add_argument("--replay", metavar="FILE", type=Path,
                        help="the replay strip's figures (JSON, written by `factory-sim demo`;"
                        " read once the file appears)")
    args = parser.parse_args(argv)
    plants = {}
    for item in args.plant:
        name, sep, url = item.partition("=")
        if not sep or not name or not url.startswith("opc.tcp://"):
            parser.error(f"--plant {item}: expected NAME=opc.tcp://HOST:PORT/...")
        plants[name] = url
    from dashboard.broker_nodes import BrokerNodes

    try:
        BrokerNodes.parse(args.mqtt)
    except ValueError as exc:
        parser.error(f"--mqtt {exc}")
    from dashboard.served_address import MAX_ALLOWED_HOSTS, allowed_host

    if len(args.allowed_host) > MAX_ALLOWED_HOSTS:
        parser.error(f"--allowed-host: at most {MAX_ALLOWED_HOSTS} names")
    also = []
    for item in args.allowed_host:
        try:
            also.append(allowed_host(item))
        except ValueError as exc:
            parser.error(f"--allowed-host {exc}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.ERROR)

    # NiceGUI switches to its own test harness when it sees pytest's variable, which a demo
    # started from a test inherits; this process is the real thing either way.
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    from nicegui import app, ui

    from dashboard.app import Dashboard
    from dashboard.operator_access import OperatorAccess
    from dashboard.page import build_page
    from dashboard.served_address import ServedAddressOnly, allowed_hosts

    login = (args.opcua_user, os.environ.get(PASSWORD_ENV, "")) if args.opcua_user else None
    secret = os.environ.get(OPERATOR_SECRET_ENV)
    if not secret:
        import secrets

        secret = secrets.token_urlsafe(12)
        print(f"operator password (this run only): {secret}", flush=True)
    try:
        access = OperatorAccess(secret)
    except ValueError as exc:
        parser.error(f"${OPERATOR_SECRET_ENV}: {exc}")
    dashboard = Dashboard(args.mqtt, plants, login, access, args.replay)
    access.add_routes(app)
    app.add_middleware(ServedAddressOnly, hosts=allowed_hosts(args.host), port=args.port,
                       also=also)

    @ui.page("/")
    def index(theme: str | None = None) -> None:
        build_page(dashboard, theme)

    @app.get("/api/stats")
    def stats(reset: bool = False) -> dict:
        return dashboard.stats(reset)

    async def started() -> None:
        await dashboard.start()
        print(f"dashboard ready: http://{args.host}:{args.port}/", flush=True)

    app.on_startup(started)
    app.on_shutdown(dashboard.stop)
    ui.run(host=args.host, port=args.port, title="factory-sim demo", reload=False, show=False,
           show_welcome_message=False, favicon="🏭", reconnect_timeout=10.0)


if __name__ in {"__main__", "__mp_main__"}:
    main(sys.argv[1:])
