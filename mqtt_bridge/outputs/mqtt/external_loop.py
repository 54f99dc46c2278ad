"""paho driven by the asyncio loop (paho's external-loop mode), not by a thread of its own.

The loop watches the socket and calls `loop_read`/`loop_write`; a task calls `loop_misc` for
keepalives. All paho callbacks then run on the loop, so a PUBACK costs no thread switch and no
wake-up pipe, and publishing competes with no network thread for the GIL (about a third less
CPU per message, benchmarks/bridge_delivery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import paho.mqtt.client as mqtt


def drive(client: mqtt.Client, loop: asyncio.AbstractEventLoop) -> asyncio.Task[None]:
    """Drive the connected client from `loop`; returns its keepalive task (cancel it once the
    socket is closed)."""
    sock = client.socket()

    def register_write(c: mqtt.Client, _u: object, s: Any) -> None:
        loop.add_writer(s, c.loop_write)

    def unregister_write(_c: object, _u: object, s: Any) -> None:
        loop.remove_writer(s)

    def on_close(_c: object, _u: object, s: Any) -> None:
        loop.remove_reader(s)
        loop.remove_writer(s)

    client.on_socket_register_write = register_write
    client.on_socket_unregister_write = unregister_write
    client.on_socket_close = on_close
    loop.add_reader(sock, client.loop_read)
    if client.want_write():  # the CONNECT did not fit into the socket at once
        loop.add_writer(sock, client.loop_write)
    return loop.create_task(_keep_alive(client))


async def _keep_alive(client: mqtt.Client) -> None:
    """paho's timer duties in external-loop mode: PINGREQ, and noticing a silent broker."""
    while client.socket() is not None:
        await asyncio.sleep(1.0)
        client.loop_misc()


async def release(client: mqtt.Client, loop: asyncio.AbstractEventLoop,
                  keepalive: asyncio.Task[None] | None) -> None:
    """Send DISCONNECT (if the socket is still open), let go of the socket and stop the
    keep-alive task `drive` started: what a sink does when it closes or reconnects."""
    with contextlib.suppress(Exception):
        client.disconnect()
    deadline = loop.time() + 1.0
    while client.socket() is not None and loop.time() < deadline:
        await asyncio.sleep(0.01)  # the loop writes the DISCONNECT; paho then closes
    sock = client.socket()
    if sock is not None:  # a broker that does not read: close it ourselves
        loop.remove_reader(sock)
        loop.remove_writer(sock)
        sock.close()
    if keepalive is not None:
        keepalive.cancel()


async def connack_refusal(connack: asyncio.Future[Any], timeout: float) -> str | None:
    """None once the broker accepted the CONNECT (`connack` gets paho's reason code), else
    why not: its refusal, or "no CONNACK" after `timeout` seconds."""
    try:
        reason = await asyncio.wait_for(asyncio.shield(connack), timeout)
    except TimeoutError:
        return "no CONNACK"
    if reason is None or getattr(reason, "is_failure", True):
        return str(reason)
    return None
