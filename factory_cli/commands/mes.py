"""`factory-sim mes URL`: the reference MES, dispatching a plant's order book over OPC UA.

It releases orders by due date under a WIP cap through each machine's Job Management and
passes every lot on from operation to operation (factory_mes). The plant must be served
with `factory-sim serve --jobs external`.
"""

from __future__ import annotations

import argparse
import os

from factory_cli.errors import CliError

PASSWORD_ENV = "FACTORY_SIM_MES_PASSWORD"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mes", help="dispatch a plant's orders as job orders over OPC UA (reference MES)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", metavar="URL", help="the plant's endpoint, opc.tcp://HOST:PORT/...")
    parser.add_argument("--wip-cap", type=int, default=4, metavar="N",
                        help="orders released and not finished at most (default 4)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S",
                        help="wall seconds between dispatch rounds (default 1)")
    parser.add_argument("--user", metavar="NAME",
                        help=f"an operator's user name (password from ${PASSWORD_ENV})")
    parser.set_defaults(handler=mes_command)


def mes_command(args: argparse.Namespace) -> int:
    import asyncio

    if not args.url.startswith("opc.tcp://"):
        raise CliError(f"mes: URL must start with opc.tcp://, got {args.url!r}")
    if not 1 <= args.wip_cap <= 1000:
        raise CliError(f"mes: --wip-cap must be 1..1000, got {args.wip_cap}")
    if not 0.05 <= args.interval <= 3600:
        raise CliError(f"mes: --interval must be 0.05..3600 seconds, got {args.interval}")
    password = os.environ.get(PASSWORD_ENV)
    if args.user and not password:
        raise CliError(f"mes: --user needs the password in ${PASSWORD_ENV}")
    try:
        return asyncio.run(_run(args, password))
    except KeyboardInterrupt:
        return 0


async def _run(args: argparse.Namespace, password: str | None) -> int:
    import asyncio
    import logging

    from asyncua import Client, ua

    from factory_mes.mes import DispatchError, Mes

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncua").setLevel(logging.ERROR)  # its warnings are for developers
    client = Client(args.url, timeout=10)
    if args.user:
        client.set_user(args.user)
        client.set_password(password)
    try:
        await client.connect()
    except (TimeoutError, OSError, ua.UaError) as exc:
        raise CliError(f"mes: cannot connect to {args.url}: {exc}") from None
    try:
        try:
            mes = await Mes.connect(client, wip_cap=args.wip_cap)
        except DispatchError as exc:
            raise CliError(f"mes: {args.url}: {exc}") from None
        print(f"factory-sim mes: {len(mes.machines)} machines with Job Management, "
              f"WIP cap {args.wip_cap}", flush=True)
        reported: set[str] = set()
        while True:
            try:
                await mes.dispatch_once()
            except ua.uaerrors.BadUserAccessDenied:
                raise CliError("mes: the user may not dispatch (an operator is needed)") \
                    from None
            except TimeoutError:
                print(f"mes: {args.url} did not answer in time; trying again", flush=True)
            except (ConnectionError, OSError) as exc:
                raise CliError(f"mes: lost the connection to {args.url}: {exc}",
                               exit_code=1) from None
            for order_id, progress in mes.history.items():
                if progress.finished and order_id not in reported:
                    reported.add(order_id)
                    last = progress.operations[-1]
                    print(f"order {order_id} ({progress.variant}): {last.runs_completed} good "
                          f"after {len(progress.operations)} operations", flush=True)
            await asyncio.sleep(args.interval)
    finally:
        await client.disconnect()
