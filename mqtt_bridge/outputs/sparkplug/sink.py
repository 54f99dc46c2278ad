"""Publishes the journal as a Sparkplug B edge node (paho-mqtt, driven by the asyncio loop as
the MQTT output's: `outputs/mqtt/external_loop.py`): one node per bridge, one device per
machine.

Each connection is a fresh paho client whose will is the NDEATH with the next bdSeq (0 at
first, one more on every CONNECT, kept in the journal across restarts). Once connected (and,
when `primary_host_id` is set, once the primary host's STATE says it is online) the node
publishes its births: NBIRTH (seq 0, bdSeq, `Node Control/Rebirth` = false) and one DBIRTH per
machine with every metric's name, alias, datatype, timestamp and newest value. Then the
journal's entries go out in order as DDATA per machine, by alias, `seq` counting 0..255 over
every message of the node. A metric not in the last birth (a new variable, a new machine), an
NCMD `Node Control/Rebirth` = true from a host, or a reconnect makes the node born again;
other commands are ignored (`commands.py`).

Sparkplug wants DATA and BIRTH messages at QoS 0, which the broker does not acknowledge. So
after each round of messages the sink publishes one QoS 1 message outside the Sparkplug
namespace (`SparkplugSettings.confirm_topic`, empty): the broker reads a connection's packets
in order, so its PUBACK confirms every message sent before it, and only then are the round's
rows acknowledged in the journal. A broker outage or a bridge SIGKILL leaves the unconfirmed
rows in the journal; they are sent again after the next births, as `is_historical` values
(the births already reported the newest values: `edge_node.py`).

A clean stop publishes the NDEATH itself (QoS 1) before it disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from mqtt_bridge.journal.interface import SinkJournal
from mqtt_bridge.outputs.journal_sink import JournalSink, Outage
from mqtt_bridge.outputs.mqtt import external_loop
from mqtt_bridge.outputs.sparkplug import metrics, payload
from mqtt_bridge.outputs.sparkplug.commands import Commands
from mqtt_bridge.outputs.sparkplug.edge_node import EdgeNode
from mqtt_bridge.outputs.sparkplug.primary_host import PrimaryHost
from mqtt_bridge.outputs.sparkplug.settings import SparkplugSettings
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample

log = logging.getLogger(__name__)

_CONNACK_TIMEOUT = 10.0
_READ_CHUNK = 2000  # journal entries per round (one confirmation each)
# unconfirmed entries at most: a limit in entries, not rounds, since a sink that keeps up sends
# small rounds (a commit's worth), and a window of a few rounds then capped the rate at a few
# rounds per confirmation round trip (1,700 values/s under load, benchmarks/bridge_throughput.py)
_ENTRIES_IN_FLIGHT = 20_000
_CONFIRMS_IN_FLIGHT = 100  # paho's window for the QoS 1 confirmations
_BD_SEQ_KEY = "\0bdSeq"  # kept text: the bdSeq of the next CONNECT


_Round = tuple[int, int, int, dict[str, str]]  # confirm mid, last rowid, rows, last texts


def _now_ms() -> int:
    return int(time.time() * 1000)


class _ConnectFailed(Exception):
    """The broker could not be reached or refused the connection."""


class SparkplugSink(JournalSink):
    """Drains the journal as a Sparkplug B edge node; see the module docstring.

        async with SparkplugSink(journal, SparkplugSettings(url="mqtt://127.0.0.1:1883")) as s:
            await s.flush(timeout=10)
    """

    def __init__(self, journal: SinkJournal, settings: SparkplugSettings,
                 cursor: str = "sparkplug") -> None:
        kept = journal.kept(cursor)
        bd_seq = kept.pop(_BD_SEQ_KEY, "0")
        self.node = EdgeNode(settings, int(bd_seq) if bd_seq.isdigit() else 0)
        for key, text in kept.items():  # the last values confirmed by an earlier run
            self.node.learn(key, 0, text)
        super().__init__(journal, cursor)  # registers self.encode: after self.node exists
        self.settings = settings
        self.connected = False
        self._scanned = False
        self._generation = 0
        self._client: mqtt.Client | None = None
        self._connack: asyncio.Future[Any] | None = None
        self._acks: set[int] = set()
        self._rebirth_requested = False
        self._rebirths = 0
        self._host: PrimaryHost | None = None
        self._commands = Commands(settings)
        self._keepalive: asyncio.Task[None] | None = None
        self._published = 0
        self._confirmed_count = 0
        self._outage = Outage(f"Sparkplug broker {settings.url}")

    def encode(self, item: Sample | EventSample | Gap, seq: int) -> str:  # type: ignore[override]
        """This output's journal text; the node learns each metric's newest value from it."""
        text = metrics.encode_text(item, seq)
        self.node.learn(item.key, seq, text, current=type(item) is not Gap
                        and not (type(item) is Sample and item.late))
        return text

    def sources_live(self, machines: Iterable[MachinePath]) -> None:
        """The machines whose source is live now (from the OPC UA input, through the app):
        the others die (DDEATH), those back are born again (`edge_node.py`)."""
        live = {metrics.device_id(machine) for machine in machines}
        if self.node.lost(live, self.journal.last_rowid):
            self._rebirth_requested = True
        self._wake.set()

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), **self.node.stats(), "connected": self.connected,
                "messages": self._published, "confirmed": self._confirmed_count,
                "rebirth_requests": self._rebirths, "commands_ignored": self._commands.ignored}

    # -- the connection loop --------------------------------------------------------------

    async def _run(self) -> None:
        if not self._scanned:
            await self._scan_backlog()
        delay = self.settings.reconnect_min_delay
        while not self._closing:
            try:
                client = await self._connect()
            except _ConnectFailed as exc:
                self.last_error = str(exc)
                self._outage.failed(str(exc))
                await self._pause(delay)
                delay = min(delay * 2, self.settings.reconnect_max_delay)
                continue
            delay = self.settings.reconnect_min_delay
            try:
                if not await self._session(client) and not self._closing:
                    self._outage.failed(self.last_error or "connection lost")
            except Exception as exc:  # a bug must not end delivery for good: log, reconnect
                log.exception("Sparkplug sink failed; reconnecting")
                self.last_error = f"Sparkplug sink: {exc!r}"
                await self._pause(self.settings.reconnect_max_delay)
            finally:
                await self._shut(client)

    async def _scan_backlog(self) -> None:
        """Learn the newest values among the rows an earlier run left undelivered, so that the
        first births report them (and the rows themselves go out as historical)."""
        after = None
        while not self._closing:
            entries = self.journal.read(self.cursor, 5000, after=after)
            if not entries:
                break
            self.node.learn_rows(entries)
            after = entries[-1].rowid
            await asyncio.sleep(0)
        self._scanned = True

    async def _connect(self) -> mqtt.Client:
        settings = self.settings
        self._generation += 1
        generation = self._generation
        loop = self._loop
        will = self.node.will()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             clean_session=True, reconnect_on_failure=False)
        client.max_inflight_messages_set(_CONFIRMS_IN_FLIGHT)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        client.will_set(settings.topic("NDEATH"), will, qos=1, retain=False)
        self._connack = loop.create_future()
        self._acks = set()

        def on_connect(_c: object, _u: object, _f: object, reason: Any, _p: object) -> None:
            loop.call_soon_threadsafe(self._on_connack, generation, reason)

        def on_disconnect(_c: object, _u: object, _f: object, reason: Any, _p: object) -> None:
            loop.call_soon_threadsafe(self._on_disconnect, generation, reason)

        def on_publish(_c: object, _u: object, mid: int, _r: object, _p: object) -> None:
            loop.call_soon_threadsafe(self._on_ack, generation, mid)

        def on_message(_c: object, _u: object, message: Any) -> None:
            loop.call_soon_threadsafe(self._on_message, generation, message.topic,
                                      bytes(message.payload))

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.on_message = on_message
        try:
            if settings.tls or settings.tls_ca:
                client.tls_set(ca_certs=settings.tls_ca, certfile=settings.tls_cert,
                               keyfile=settings.tls_key)
            await asyncio.to_thread(client.connect, settings.host, settings.port,
                                    settings.keepalive)
        except (OSError, ValueError) as exc:
            raise _ConnectFailed(f"Sparkplug broker {settings.url}: {exc}") from None
        # the CONNECT went out: its bdSeq is this session's, and the next one's is one more,
        # across restarts too (the spec: bdSeq increments with every CONNECT packet)
        self.node.connect_sent()
        self.journal.keep(self.cursor, {_BD_SEQ_KEY: str(self.node.next_bd_seq)})
        self._keepalive = external_loop.drive(client, loop)  # paho on this loop, as MqttSink
        reason = await external_loop.connack_refusal(self._connack, _CONNACK_TIMEOUT)
        if reason is not None:
            await self._shut(client)
            raise _ConnectFailed(f"Sparkplug broker {settings.url} refused the connection: "
                                 f"{reason}")
        self._client = client
        self.connected = True
        self.last_error = None
        self._outage.over(self.journal.waiting(self.cursor))
        return client

    def _on_connack(self, generation: int, reason: Any) -> None:
        if generation == self._generation and self._connack and not self._connack.done():
            self._connack.set_result(reason)

    def _on_disconnect(self, generation: int, reason: Any) -> None:
        if generation != self._generation:
            return
        if self._connack and not self._connack.done():
            self._connack.set_result(None)
        if self.connected and not self._closing:
            self.last_error = f"Sparkplug broker {self.settings.url}: connection lost ({reason})"
        self.connected = False
        self._wake.set()

    def _on_ack(self, generation: int, mid: int) -> None:
        if generation == self._generation:
            self._acks.add(mid)
            self._wake.set()

    def _on_message(self, generation: int, topic: str, data: bytes) -> None:
        if generation != self._generation:
            return
        if self._commands.concerns(topic):
            if self._commands.rebirth_requested(topic, data):
                self._rebirth_requested = True
                self._rebirths += 1
                self._wake.set()
        elif self._host is not None and topic == self._host.topic and self._host.observe(data):
            self._wake.set()

    async def _shut(self, client: mqtt.Client) -> None:
        """Send DISCONNECT (if the socket is still open) and let go of the socket."""
        self.connected = False
        self._client = None
        keepalive, self._keepalive = self._keepalive, None
        await external_loop.release(client, self._loop, keepalive)

    # -- publishing -----------------------------------------------------------------------

    def _births(self, client: mqtt.Client) -> None:
        for topic, data in self.node.births(_now_ms()):
            client.publish(topic, data, qos=0, retain=False)
            self._published += 1
        self._rebirth_requested = False

    async def _session(self, client: mqtt.Client) -> bool:
        """Births, then data, until the connection drops (False) or the node leaves on purpose
        (True: closing, or the primary host went offline)."""
        settings = self.settings
        for topic in self._commands.topics:
            client.subscribe(topic, qos=1)
        if settings.state_topic is not None:
            self._host = host = PrimaryHost(settings.state_topic)  # STATE is retained: anew
            client.subscribe(settings.state_topic, qos=1)
            while not host.online and self.connected and not self._closing:
                await self._wait_for_work(1.0)  # births wait for the primary host
            if not self.connected or self._closing:
                return self._closing
        self._births(client)
        rounds: deque[_Round] = deque()
        read_upto = self.journal.acked(self.cursor)
        while self.connected and not self._closing:
            self._take_acks(rounds)
            if self._host is not None and self._host.lost:
                log.warning("Sparkplug primary host %s went offline: the edge node disconnects "
                            "and waits for it", settings.primary_host_id)
                await self._goodbye(client, rounds)
                return True
            for topic, data in self.node.deaths_due(read_upto, _now_ms()):
                client.publish(topic, data, qos=0, retain=False)
            if self._rebirth_requested:
                self._births(client)
            if sum(r[2] for r in rounds) < _ENTRIES_IN_FLIGHT:
                entries = self.journal.read(self.cursor, _READ_CHUNK, after=read_upto)
                if entries:
                    self._send_round(client, entries, rounds)
                    read_upto = entries[-1].rowid
                    await asyncio.sleep(0)
                    continue
            await self._wait_for_work(1.0)
        if self._closing and self.connected:
            await self._goodbye(client, rounds)
        return self._closing

    def _send_round(self, client: mqtt.Client, entries: list[Any],
                    rounds: deque[_Round]) -> None:
        now = _now_ms()
        messages = self.node.data(entries, now)
        if messages is None:  # a metric the last birth did not report: born again first
            for entry in entries:  # (the node learned every appended item; this is a safety)
                if entry.key not in self.node.latest:
                    self.node.learn(entry.key, entry.seq, entry.text)
            self._births(client)
            messages = self.node.data(entries, now)
            if messages is None:
                raise RuntimeError("Sparkplug births do not cover the journal's entries")
        for topic, data in messages:
            client.publish(topic, data, qos=0, retain=False)
        self._published += len(messages)
        # the last value per metric, kept once confirmed: the next run's births start there
        texts = {entry.key: entry.text for entry in entries if entry.is_value}
        info = client.publish(self.settings.confirm_topic, b"", qos=1, retain=False)
        rounds.append((info.mid, entries[-1].rowid, len(entries), texts))

    def _take_acks(self, rounds: deque[_Round]) -> None:
        acks = self._acks
        upto, kept = None, {}
        while rounds and rounds[0][0] in acks:
            mid, upto, count, texts = rounds.popleft()
            acks.discard(mid)
            kept.update(texts)
            self._confirmed_count += count
        if upto is not None:
            self.journal.keep(self.cursor, kept)
            self._confirmed(upto)

    async def _goodbye(self, client: mqtt.Client,
                       rounds: deque[_Round]) -> None:
        """Wait briefly for the last confirmations, then publish the NDEATH (QoS 1)."""
        loop = self._loop
        deadline = loop.time() + 2.0
        while rounds and self.connected and loop.time() < deadline:
            await asyncio.sleep(0.01)
            self._take_acks(rounds)
        info = client.publish(self.settings.topic("NDEATH"), payload.death(self.node.bd_seq),
                              qos=1, retain=False)
        deadline = loop.time() + 2.0
        while not info.is_published() and self.connected and loop.time() < deadline:
            await asyncio.sleep(0.01)
