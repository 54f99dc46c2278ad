"""Publishes the journal to an MQTT broker as the unified namespace (paho-mqtt, QoS 1, retained).

At least once and in order per topic: entries are published in journal order, at most
`max_inflight * 2` unconfirmed at a time (in machine mode, `mqtt.batch = machine`, a round of up
to 5,000 entries starts whenever there is room, one message per machine), and the journal is
acknowledged only up to the first entry whose PUBACK has not arrived. Every connection is a
fresh paho client: after a drop the sink republishes from the first unconfirmed entry, so
nothing depends on paho's in-memory retry queue, and a broker outage only ever leaves data
waiting in the journal, never in RAM.

Paho runs on the sink's asyncio loop, not in a thread of its own (paho's external-loop mode:
the loop watches the socket and calls `loop_read`/`loop_write`, a timer calls `loop_misc` for
keepalives). All callbacks then run on the loop, so a PUBACK costs no thread switch and no
wake-up pipe, and publishing competes with no network thread for the GIL; this cut the CPU per
message by about a third and lifted one connection from ~16,000 to ~25,000 confirmed
messages/s (benchmarks/bridge_delivery.py). The journal holds every entry's finished payload
(this sink's encoder is `payload.encode_text`), so publishing is one `publish()` call per entry.

The bridge's status topic (`MqttSettings.status_topic`) carries a retained birth message
(`{"status": "online", ...}`) on every connect, and a retained last will
(`{"status": "offline", ...}`) that the broker publishes if the bridge dies; a clean shutdown
publishes "offline" itself.

Retained values survive a broker that lost them (a new broker, one without persistence): the
sink keeps the last retained payload per topic its broker confirmed (`Journal.keep`), and on
each connect in tag mode looks for its own retained status message. A broker that has none has
lost its retained store: the sink publishes every kept payload again (same `seq`: a consumer
sees a duplicate delivery at most) before its birth message and the journal's backlog.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from mqtt_bridge.journal.interface import JournalEntry, SinkJournal
from mqtt_bridge.outputs.journal_sink import JournalSink, Outage
from mqtt_bridge.outputs.mqtt import external_loop, payload
from mqtt_bridge.outputs.mqtt.failover import host_and_port
from mqtt_bridge.outputs.mqtt.settings import MqttSettings
from mqtt_bridge.outputs.mqtt.window import BATCH_ROUND, PublishWindow

log = logging.getLogger(__name__)

_CONNACK_TIMEOUT = 10.0  # seconds to wait for the broker's answer to CONNECT
_READ_CHUNK = 500  # journal entries read per query
_PROBE_TIMEOUT = 2.0  # seconds to wait for the broker to send our retained status back


class _ConnectFailed(Exception):
    """The broker could not be reached or refused the connection."""


class MqttSink(JournalSink):
    """Drains the journal to an MQTT broker; see the module docstring for the guarantees.

        async with MqttSink(journal, MqttSettings(url="mqtt://127.0.0.1:1883")) as sink:
            await sink.flush(timeout=10)
    """

    encode = staticmethod(payload.encode_text)
    publish_window = PublishWindow  # what a connection publishes through (UMH: its own)

    def __init__(self, journal: SinkJournal, settings: MqttSettings, cursor: str = "mqtt") -> None:
        super().__init__(journal, cursor)
        self.settings = settings
        self.connected = False
        self._published = 0
        self._rejected = 0
        self._confirmed_count = 0
        self._connects = 0
        self._client: mqtt.Client | None = None
        self._generation = 0
        self._acks: deque[tuple[int, int]] = deque()  # (generation, mid) from paho's thread
        self._connack: asyncio.Future[Any] | None = None
        self._outage = Outage(f"MQTT broker {settings.url}")
        self._brokers = settings.brokers  # failover between the nodes of a cluster
        self._restored = 0
        self._status_seen: asyncio.Future[None] | None = None
        self._source: dict[str, Any] | None = None
        self._born = False  # this connection's birth message is out (after the retained probe)

    def stats(self) -> dict[str, Any]:
        """Delivery figures: entries published and confirmed, connects, state, backlog."""
        return {
            **super().stats(),
            "connected": self.connected,
            "published": self._published,
            "confirmed": self._confirmed_count,
            "rejected": self._rejected,
            "connects": self._connects,
            "restored": self._restored,
        }

    # -- the connection loop ------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.settings.reconnect_min_delay
        while not self._closing:
            try:
                client = await self._connect()
            except _ConnectFailed as exc:
                self.last_error = str(exc)
                self._outage.failed(str(exc))
                if self._brokers.failed():  # every node refused: back off
                    await self._pause(delay)
                    delay = min(delay * 2, self.settings.reconnect_max_delay)
                continue
            self._brokers.connected()
            delay = self.settings.reconnect_min_delay
            self._outage.over(self.journal.waiting(self.cursor))
            try:
                await self._deliver(client)
                if not self._closing:
                    self._outage.failed(self.last_error or "connection lost")
                    self._brokers.failed()  # reconnect to the next node
            except Exception as exc:  # a bug must not end delivery for good: log, reconnect
                log.exception("MQTT sink failed; reconnecting")
                self.last_error = f"MQTT sink: {exc!r}"
                await self._pause(self.settings.reconnect_max_delay)
            finally:
                await self._shut(client)

    async def _connect(self) -> mqtt.Client:
        settings = self.settings
        self._generation += 1
        generation = self._generation
        loop = self._loop
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=True,  # the journal, not the broker session, holds what is unconfirmed
            reconnect_on_failure=False,  # reconnects are this sink's job (fresh client each time)
        )
        client.max_inflight_messages_set(settings.max_inflight)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        client.will_set(settings.status_topic, payload.status(settings.client_id, online=False),
                        qos=settings.qos, retain=True)
        self._connack = loop.create_future()
        acks, wake = self._acks, self._wake

        def on_connect(_c: object, _u: object, _flags: object, reason: Any, _p: object) -> None:
            loop.call_soon_threadsafe(self._on_connack, generation, reason)

        def on_disconnect(_c: object, _u: object, _f: object, reason: Any, _p: object) -> None:
            loop.call_soon_threadsafe(self._on_disconnect, generation, reason)

        def on_publish(_c: object, _u: object, mid: int, _reason: object, _p: object) -> None:
            # Runs on the loop (inside loop_read): no thread hand-over needed.
            acks.append((generation, mid))
            wake.set()

        def on_message(_c: object, _u: object, message: Any) -> None:
            loop.call_soon_threadsafe(self._on_status, generation)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.on_message = on_message
        try:
            if settings.tls or settings.tls_ca:
                # Raises ssl.SSLError (an OSError) for a CA or key file that is not PEM.
                client.tls_set(ca_certs=settings.tls_ca, certfile=settings.tls_cert,
                               keyfile=settings.tls_key)
            # Blocking (name lookup, TCP and TLS handshakes, CONNECT): in a worker thread.
            host, port = host_and_port(self._brokers.current)
            await asyncio.to_thread(client.connect, host, port, settings.keepalive)
        except (OSError, ValueError) as exc:
            raise _ConnectFailed(f"MQTT broker {self._brokers.current}: {exc}") from None
        self._keepalive = external_loop.drive(client, self._loop)
        reason = await external_loop.connack_refusal(self._connack, _CONNACK_TIMEOUT)
        if reason is not None:
            await self._shut(client)
            raise _ConnectFailed(f"MQTT broker {self._brokers.current} refused the connection: "
                                 f"{reason}")
        self._client = client
        self.connected = True
        self._connects += 1
        self.last_error = None
        return client

    def _on_connack(self, generation: int, reason: Any) -> None:
        if generation == self._generation and self._connack and not self._connack.done():
            self._connack.set_result(reason)

    def _on_status(self, generation: int) -> None:
        seen = self._status_seen
        if generation == self._generation and seen is not None and not seen.done():
            seen.set_result(None)

    def _on_disconnect(self, generation: int, reason: Any) -> None:
        if generation != self._generation:
            return
        if self._connack and not self._connack.done():
            self._connack.set_result(None)
        if self.connected and not self._closing:
            self.last_error = f"MQTT broker {self._brokers.current}: connection lost ({reason})"
        self.connected = False
        self._wake.set()

    async def _shut(self, client: mqtt.Client) -> None:
        """Send DISCONNECT (if the socket is still open) and let go of the socket."""
        self.connected = False
        self._client = None
        keepalive, self._keepalive = getattr(self, "_keepalive", None), None
        await external_loop.release(client, self._loop, keepalive)

    # -- publishing ---------------------------------------------------------------------------

    async def _deliver(self, client: mqtt.Client) -> None:
        """Publish from the first unconfirmed entry until the connection drops or we close."""
        settings = self.settings
        size = settings.max_inflight * 2
        self._window = window = self.publish_window(settings.prefix, settings.qos)
        in_flight = window.in_flight
        read_upto = self.journal.acked(self.cursor)
        ahead: deque[JournalEntry] = deque()  # read from the journal, not yet published
        self._acks.clear()
        self._born = False
        if settings.batch == "tag":
            await self._restore_retained(client)
        self._publish_status(client)
        self._born = True
        publish = client.publish
        batched = settings.batch == "machine"
        publish_some = window.publish_batches if batched else window.publish_each
        while self.connected and not self._closing:
            self._take_acks()
            room = size - len(in_flight)
            wanted = BATCH_ROUND if batched else room  # entries to have at hand
            if room > 0 and len(ahead) < wanted:
                # Read in large chunks: one query per few hundred entries, not per PUBACK.
                entries = self.journal.read(self.cursor, max(_READ_CHUNK, wanted),
                                            after=read_upto)
                if entries:
                    read_upto = entries[-1].rowid
                    ahead.extend(entries)
            published = publish_some(publish, ahead, room)
            if window.lost:
                self.connected = False
            self._published += published
            if published:
                await asyncio.sleep(0)  # let PUBACKs and the source in between large backlogs
            else:
                await self._wait_for_work()
        if self._closing and self.connected:
            await self._say_goodbye(client)

    def source_status(self, source: dict[str, Any]) -> None:
        """Say on the status topic which server the bridge reads and since when it runs (a
        restart of the server shows there as a new start time)."""
        self._source = source
        # before the birth message, the probe for lost retained values must see only what
        # the broker kept; the birth message carries `source` then
        if self._client is not None and self.connected and self._born:
            self._publish_status(self._client)

    def _publish_status(self, client: mqtt.Client) -> None:
        settings = self.settings
        client.publish(settings.status_topic,
                       payload.status(settings.client_id, online=True, at=datetime.now(UTC),
                                      source=self._source),
                       qos=settings.qos, retain=True)

    async def _restore_retained(self, client: mqtt.Client) -> None:
        """Publish the kept retained payloads again if the broker lost its retained store."""
        kept = self.journal.kept(self.cursor)
        if not kept:
            return
        settings = self.settings
        self._status_seen = self._loop.create_future()
        client.subscribe(settings.status_topic, qos=1)
        try:
            await asyncio.wait_for(asyncio.shield(self._status_seen), _PROBE_TIMEOUT)
            return  # the broker still has what it had retained
        except TimeoutError:
            pass
        finally:
            self._status_seen = None
            client.unsubscribe(settings.status_topic)
        log.warning("MQTT broker %s has lost its retained values (a new broker, or one without "
                    "persistence): publishing the last value of %d topics again",
                    self._brokers.current,
                    len(kept))
        prefix = settings.prefix
        for topic, text in kept.items():
            client.publish(prefix + topic, text, qos=settings.qos, retain=True)
        self._restored += len(kept)

    def _take_acks(self) -> None:
        """Turn this connection's PUBACKs into journal acks (`PublishWindow.confirm`)."""
        generation, acks = self._generation, self._acks
        mids = []
        while acks:
            ack_generation, mid = acks.popleft()
            if ack_generation == generation:
                mids.append(mid)
        window = self._window
        confirmed_upto, count, retained = window.confirm(mids)
        if retained:
            self.journal.keep(self.cursor, retained)
        if confirmed_upto is not None:
            self._confirmed_count += count
            self._confirmed(confirmed_upto)
        self._rejected += window.rejected
        window.rejected = 0
        if window.last_error is not None:
            self.last_error, window.last_error = window.last_error, None

    async def _say_goodbye(self, client: mqtt.Client) -> None:
        """Wait briefly for outstanding PUBACKs, then replace the will with a clean 'offline'."""
        loop = self._loop
        deadline = loop.time() + 2.0
        while self._window.in_flight and self.connected and loop.time() < deadline:
            await asyncio.sleep(0.01)  # the loop reads the PUBACKs meanwhile
            self._take_acks()
        info = client.publish(
            self.settings.status_topic,
            payload.status(self.settings.client_id, online=False, at=datetime.now(UTC)),
            qos=self.settings.qos, retain=True,
        )
        deadline = loop.time() + 2.0
        while not info.is_published() and self.connected and loop.time() < deadline:
            await asyncio.sleep(0.01)
