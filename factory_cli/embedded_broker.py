"""The demo's embedded MQTT broker: amqtt on one loopback port, run as its own process.

    python -m factory_cli.embedded_broker --host 127.0.0.1 --port 1883

A pure-Python broker carries ~6,800 messages/s (docs/performance.md), plenty for a demo plant in the
bridge's tag mode; load tests use Mosquitto (`factory-sim demo --mqtt URL`). It prints
`ready` once it listens and stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys


def broker_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        # No $SYS topics and no per-packet logging: both cost CPU nobody looks at.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def serve(host: str, port: int) -> int:
    from amqtt.broker import Broker

    broker = Broker(broker_config(host, port))
    try:
        await broker.start()
    except Exception as exc:  # amqtt wraps the OSError of a port in use in its own errors
        print(f"cannot start the MQTT broker on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await broker.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory_cli.embedded_broker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    sys.exit(main())
