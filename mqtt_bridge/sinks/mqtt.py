"""Publishes the journal to an MQTT broker as the unified namespace (MQTT 3.1.1, QoS 1, retained).

At least once and in order per topic: entries are published in journal order, at most
`max_inflight` unconfirmed at a time, and the journal is acknowledged only up to the first
entry whose PUBACK has not arrived. Every connection starts afresh (clean session): after a
drop the sink republishes from the first unconfirmed entry, so nothing depends on a client's
in-memory retry queue, and a broker outage only ever leaves data waiting in the journal, never
in RAM.

Why not paho-mqtt here: measured on the 2-core machine (benchmarks/bridge_delivery.py), paho
costs ~30-40 µs of CPU per QoS 1 message (a message object, a `threading.Condition`, a
`send()` per packet, three `recv()` and a reason-code object per PUBACK), which alone took
~45% of the bridge process at 10,000 updates/s and kept it below the target. A publisher
needs only a small part of MQTT 3.1.1 (CONNECT with will and login, PUBLISH QoS 1/2, PUBACK,
PUBREC/PUBREL/PUBCOMP, PINGREQ, DISCONNECT), so `_Wire` speaks exactly that on an asyncio
connection (TLS through the `ssl` module): each batch of publications is one write, each batch
of PUBACKs is parsed in one pass, ~2-5 µs per message. Subscribers and tests keep using paho.

The bridge's status topic (`MqttSettings.status_topic`) carries a retained birth message
(`{"status": "online", ...}`) on every connect, and a retained last will
(`{"status": "offline", ...}`) that the broker publishes if the bridge dies; a clean shutdown
publishes "offline" itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mqtt_bridge import payload
from mqtt_bridge.journal import Journal
from mqtt_bridge.settings import MqttSettings
from mqtt_bridge.sinks import JournalSink

log = logging.getLogger(__name__)

_CONNACK_TIMEOUT = 10.0  # seconds to wait for TCP, TLS and the broker's answer to CONNECT
_READ_CHUNK = 500  # journal entries read per query
_MAX_PACKET = 268_435_455  # the largest remaining length MQTT can express
_CONNACK_REFUSALS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


class _ConnectFailed(Exception):
    """The broker could not be reached or refused the connection."""


def _length(value: int) -> bytes:
    """MQTT's variable-length "remaining length": 7 bits per byte, high bit = more follows."""
    out = bytearray()
    while True:
        value, digit = divmod(value, 128)
        out.append(digit | 0x80 if value else digit)
        if not value:
            return bytes(out)


def _text(value: str | bytes) -> bytes:
    """A length-prefixed UTF-8 string (or binary field) of MQTT."""
    data = value.encode() if isinstance(value, str) else value
    if len(data) > 0xFFFF:
        raise ValueError(f"MQTT strings hold at most 65,535 bytes, got {len(data):,}")
    return len(data).to_bytes(2, "big") + data


@functools.lru_cache(maxsize=65_536)
def _topic_field(topic: str) -> bytes:
    """The length-prefixed topic name of a PUBLISH, checked as MQTT requires (cached: a plant
    has a few thousand topics, each published again and again)."""
    if not topic or "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError(f"not a valid MQTT topic name: {topic[:80]!r}")
    return _text(topic)


def connect_packet(settings: MqttSettings, will: bytes, keepalive: int) -> bytes:
    """CONNECT of MQTT 3.1.1: clean session, the retained last will, the login if any."""
    flags = 0x02 | 0x04 | (settings.qos << 3) | 0x20  # clean session, will, will QoS, retain
    body = [_text(settings.client_id), _text(settings.status_topic), _text(will)]
    if settings.username is not None:
        flags |= 0x80
        body.append(_text(settings.username))
        if settings.password is not None:
            flags |= 0x40
            body.append(_text(settings.password))
    head = b"\x00\x04MQTT\x04" + bytes([flags]) + keepalive.to_bytes(2, "big")
    rest = head + b"".join(body)
    return b"\x10" + _length(len(rest)) + rest


def publish_packet(topic: str, body: str | bytes, qos: int, retain: bool, mid: int) -> bytes:
    """PUBLISH with QoS 1 or 2; ValueError for a topic or payload MQTT cannot carry."""
    name = _topic_field(topic)
    data = body.encode() if isinstance(body, str) else body
    size = len(name) + 2 + len(data)
    if size > _MAX_PACKET:
        raise ValueError(f"payload of {len(data):,} bytes is too large for MQTT")
    return b"".join((
        bytes([0x30 | (qos << 1) | (1 if retain else 0)]), _length(size), name,
        mid.to_bytes(2, "big"), data,
    ))


class _Wire(asyncio.Protocol):
    """The client side of one MQTT 3.1.1 connection, as far as a publisher needs it.

    Calls `on_confirmed(mids)` for every batch of PUBACKs (QoS 1) or PUBCOMPs (QoS 2), answers
    PUBRECs with PUBRELs, and `on_lost(reason)` once when the connection ends.
    """

    def __init__(
        self, on_confirmed: Callable[[list[int]], None], on_lost: Callable[[str], None]
    ) -> None:
        self._on_confirmed = on_confirmed
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[int | None] = self._loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.received_at = self._loop.time()
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.received_at = self._loop.time()
        buffer = self._buffer + data if self._buffer else data
        end = len(buffer)
        pos = 0
        confirmed: list[int] = []
        while pos + 2 <= end:
            header = buffer[pos]
            size = shift = 0
            index = pos + 1
            while True:  # the remaining length
                if index >= end:
                    size = -1
                    break
                byte = buffer[index]
                index += 1
                size |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    return self.abort("malformed packet length from the broker")
            if size < 0 or index + size > end:
                break  # the rest of the packet is still on its way
            kind = header >> 4
            if kind in (4, 7) and size >= 2:  # PUBACK (QoS 1) or PUBCOMP (QoS 2)
                confirmed.append((buffer[index] << 8) | buffer[index + 1])
            elif kind == 5 and size >= 2:  # PUBREC: release the message (QoS 2)
                self.write(b"\x62\x02" + buffer[index:index + 2])
            elif kind == 2 and size >= 2:  # CONNACK
                if not self.connack.done():
                    self.connack.set_result(buffer[index + 1])
            elif kind != 13:  # anything but PINGRESP is not for a publisher
                return self.abort(f"unexpected packet type {kind} from the broker")
            pos = index + size
        self._buffer = buffer[pos:]
        if confirmed:
            self._on_confirmed(confirmed)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connack.done():
            self.connack.set_result(None)
        self._on_lost(str(exc) if exc else "closed by the broker")

    def abort(self, reason: str) -> None:
        """Drop the connection at once (a broken or silent broker); `on_lost` follows."""
        log.warning("MQTT: %s; reconnecting", reason)
        if self.transport is not None:
            self.transport.abort()


class MqttSink(JournalSink):
    """Drains the journal to an MQTT broker; see the module docstring for the guarantees.

    >>> # async with MqttSink(journal, MqttSettings(url="mqtt://127.0.0.1:1883")) as sink:
    >>> #     await sink.flush(timeout=10)
    """

    def __init__(self, journal: Journal, settings: MqttSettings, cursor: str = "mqtt") -> None:
        super().__init__(journal, cursor)
        self.settings = settings
        self.connected = False
        self._published = 0
        self._rejected = 0
        self._confirmed_count = 0
        self._connects = 0
        self._generation = 0
        self._acks: deque[int] = deque()  # confirmed packet ids of the current connection
        self._mid = 0

    def stats(self) -> dict[str, Any]:
        """Delivery figures: entries published and confirmed, connects, state, backlog."""
        return {
            **super().stats(),
            "connected": self.connected,
            "published": self._published,
            "confirmed": self._confirmed_count,
            "rejected": self._rejected,
            "connects": self._connects,
        }

    # -- the connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.settings.reconnect_min_delay
        while not self._closing:
            try:
                wire = await self._connect()
            except _ConnectFailed as exc:
                self.last_error = str(exc)
                await self._pause(delay)
                delay = min(delay * 2, self.settings.reconnect_max_delay)
                continue
            delay = self.settings.reconnect_min_delay
            keepalive = asyncio.create_task(self._keep_alive(wire))
            try:
                await self._deliver(wire)
            except Exception as exc:  # a bug must not end delivery for good: log, reconnect
                log.exception("MQTT sink failed; reconnecting")
                self.last_error = f"MQTT sink: {exc!r}"
                await self._pause(self.settings.reconnect_max_delay)
            finally:
                keepalive.cancel()
                self._shut(wire)

    async def _connect(self) -> _Wire:
        settings = self.settings
        self._generation += 1
        generation = self._generation
        self._acks.clear()
        acks, wake = self._acks, self._wake

        def on_confirmed(mids: list[int]) -> None:
            if generation == self._generation:
                acks.extend(mids)
                wake.set()

        def on_lost(reason: str) -> None:
            if generation != self._generation:
                return
            if self.connected and not self._closing:
                self.last_error = f"MQTT broker {settings.url}: connection lost ({reason})"
            self.connected = False
            wake.set()

        loop = self._loop
        try:
            context = self._tls_context()
            wire = _Wire(on_confirmed, on_lost)
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: wire, settings.host, settings.port, ssl=context,
                    server_hostname=settings.host if context else None,
                ),
                _CONNACK_TIMEOUT,
            )
        except (OSError, ValueError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__  # TimeoutError has no text
            raise _ConnectFailed(f"MQTT broker {settings.url}: {reason}") from None
        will = payload.status(settings.client_id, online=False)
        wire.write(connect_packet(settings, will, settings.keepalive))
        try:
            code = await asyncio.wait_for(asyncio.shield(wire.connack), _CONNACK_TIMEOUT)
        except TimeoutError:
            code = None
        if code != 0:
            self._shut(wire)
            reason = "no CONNACK" if code is None else _CONNACK_REFUSALS.get(code, f"code {code}")
            raise _ConnectFailed(f"MQTT broker {settings.url} refused the connection: {reason}")
        self.connected = True
        self._connects += 1
        self.last_error = None
        return wire

    def _tls_context(self) -> ssl.SSLContext | None:
        """Verify the broker (system CAs or `tls_ca`); present a client certificate if given.
        Raises ssl.SSLError (an OSError) for a CA or key file that is not PEM."""
        settings = self.settings
        if not (settings.tls or settings.tls_ca):
            return None
        context = ssl.create_default_context(cafile=settings.tls_ca)
        if settings.tls_cert:
            context.load_cert_chain(settings.tls_cert, settings.tls_key)
        return context

    async def _keep_alive(self, wire: _Wire) -> None:
        """PINGREQ at half the keepalive; a broker silent for 1.5 keepalives is given up."""
        keepalive = self.settings.keepalive
        loop = self._loop
        while self.connected:
            await asyncio.sleep(keepalive / 2)
            if loop.time() - wire.received_at > keepalive * 1.5:
                wire.abort(f"no answer from the broker for {keepalive * 1.5:g} s")
                return
            wire.write(b"\xc0\x00")

    def _shut(self, wire: _Wire) -> None:
        """Send DISCONNECT (so the broker drops the last will) and close the connection."""
        self.connected = False
        self._generation += 1  # whatever the old connection still reports is stale
        if wire.transport is not None and not wire.transport.is_closing():
            wire.write(b"\xe0\x00")
            wire.transport.close()

    # -- publishing ---------------------------------------------------------------------------

    def _next_mid(self) -> int:
        self._mid = self._mid % 0xFFFF + 1  # 1..65535; max_inflight keeps them unique in flight
        return self._mid

    async def _deliver(self, wire: _Wire) -> None:
        """Publish from the first unconfirmed entry until the connection drops or we close."""
        settings = self.settings
        window = settings.max_inflight
        prefix, qos = settings.prefix, settings.qos
        self._in_flight: dict[int, int] = {}  # mid -> rowid, this connection only
        self._order: deque[int] = deque()  # rowids in publish order
        self._done: set[int] = set()  # confirmed rowids not yet at the head of `_order`
        in_flight, order, done = self._in_flight, self._order, self._done
        read_upto = self.journal.acked(self.cursor)
        ahead: deque = deque()  # entries read from the journal, not yet published
        self._publish_status(wire, online=True)
        next_mid = self._next_mid
        while self.connected and not self._closing:
            self._take_acks()
            room = window - len(in_flight)
            if room > 0 and len(ahead) < room:
                # Read in large chunks: one query per few hundred entries, not per PUBACK.
                entries = self.journal.read_columns(
                    self.cursor, "rowid, topic, retained, payload", max(_READ_CHUNK, room),
                    after=read_upto,
                )
                if entries:
                    read_upto = entries[-1][0]
                    ahead.extend(entries)
            packets = []
            while room > 0 and ahead:
                rowid, topic, retained, body = ahead.popleft()
                mid = next_mid()
                try:
                    packets.append(publish_packet(prefix + topic, body, qos, retained, mid))
                except ValueError as exc:  # a topic or payload MQTT cannot carry: skip it
                    self._rejected += 1
                    self.last_error = f"MQTT sink cannot publish {topic[:80]!r}: {exc}"
                    order.append(rowid)
                    done.add(rowid)
                    continue
                in_flight[mid] = rowid
                order.append(rowid)
                room -= 1
            if packets:
                wire.write(b"".join(packets))  # one write (and mostly one send) per batch
                self._published += len(packets)
                await asyncio.sleep(0)  # let PUBACKs and the source in between large backlogs
            else:
                await self._wait_for_work()
        if self._closing and self.connected:
            await self._say_goodbye(wire)

    def _publish_status(self, wire: _Wire, online: bool) -> int:
        """Publish the retained birth or goodbye message; returns its packet id."""
        settings = self.settings
        mid = self._next_mid()
        self._in_flight[mid] = 0  # no journal row: confirmations of rowid 0 change nothing
        wire.write(publish_packet(
            settings.status_topic,
            payload.status(settings.client_id, online=online, at=datetime.now(UTC)),
            settings.qos, True, mid,
        ))
        return mid

    def _take_acks(self) -> None:
        """Turn PUBACKs into journal acks, up to the first entry still unconfirmed."""
        in_flight, done = self._in_flight, self._done
        acks = self._acks
        while acks:
            rowid = in_flight.pop(acks.popleft(), None)
            if rowid:
                done.add(rowid)
        confirmed_upto = None
        order = self._order
        count = 0
        while order and order[0] in done:
            confirmed_upto = order.popleft()
            done.discard(confirmed_upto)
            count += 1
        if confirmed_upto is not None:
            self._confirmed_count += count
            self._confirmed(confirmed_upto)

    async def _say_goodbye(self, wire: _Wire) -> None:
        """Wait briefly for outstanding PUBACKs, then replace the will with a clean 'offline'."""
        loop = self._loop
        deadline = loop.time() + 2.0
        while self._in_flight and self.connected and loop.time() < deadline:
            await asyncio.sleep(0.01)  # the loop reads the PUBACKs meanwhile
            self._take_acks()
        mid = self._publish_status(wire, online=False)
        deadline = loop.time() + 2.0
        while mid in self._in_flight and self.connected and loop.time() < deadline:
            await asyncio.sleep(0.01)
            self._take_acks()
