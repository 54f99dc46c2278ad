"""One connection's publish window: what is in flight, and which journal rows PUBACKs confirm.

Entries are published in journal order (in machine mode grouped into one message per
machine, `payload.updates_batch`); a PUBACK confirms the rows of its message, and the journal
is acknowledged only up to the first row still unconfirmed, so a drop republishes from there.
A topic or payload MQTT cannot carry is counted and skipped (confirmed as far as the journal
goes: it could never be delivered). A retained value confirmed by its PUBACK is kept
(`Journal.keep`) for a broker that loses its retained store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from mqtt_bridge.journal.interface import JournalEntry
from mqtt_bridge.outputs.mqtt import payload

BATCH_ROUND = 5000  # machine mode: entries grouped into messages per round

Publish = Callable[..., Any]  # paho's Client.publish


class PublishWindow:
    """The rows in flight on one connection (a new connection starts a new window)."""

    def __init__(self, prefix: str, qos: int) -> None:
        self.prefix, self.qos = prefix, qos
        self.in_flight: dict[int, tuple[int, ...]] = {}  # mid -> rowids
        self._order: deque[int] = deque()  # rowids in publish order
        self._done: set[int] = set()  # confirmed rowids not yet at the head of `_order`
        self._retained: dict[int, tuple[str, str]] = {}  # mid: (key, payload)
        self.rejected = 0
        self.last_error: str | None = None
        self.lost = False  # paho said the connection is gone

    def publish_each(self, publish: Publish, ahead: deque[JournalEntry], room: int) -> int:
        """Tag mode: each entry on its own topic, as it was journaled; up to `room` of them."""
        prefix, topic_of_key = self.prefix, payload.topic_of_key
        in_flight, order = self.in_flight, self._order
        published = 0
        while published < room and ahead:
            entry = ahead.popleft()
            rowids = (entry.rowid,)
            # a variable's value is retained (its last value); events and gaps are not
            info = self._send(publish, prefix + topic_of_key(entry.key), entry.text,
                              bool(entry.is_value), rowids)
            if info is not None and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
                self.lost = True
                break
            order.append(entry.rowid)
            if info is not None:
                in_flight[info.mid] = rowids
                if entry.is_value:  # retained: kept once the broker confirmed it
                    self._retained[info.mid] = (entry.key, entry.text)
                published += 1
        return published

    def publish_batches(self, publish: Publish, ahead: deque[JournalEntry], room: int) -> int:
        """Machine mode: a machine's updates (variables, events, alarms) in one message on its
        `.../{cell}/updates` topic, at most `payload.MAX_BATCH` each. A round takes up to
        `BATCH_ROUND` entries whenever the in-flight window has room, however many messages
        they make: a window of a few dozen messages must not split a round across a hundred
        machines. Journal order is kept per topic, and acks go by journal order."""
        if room <= 0:
            return 0
        prefix = self.prefix
        messages: list[tuple[str, list[JournalEntry]]] = []  # in the order first seen
        open_batch: dict[str, list[JournalEntry]] = {}  # a batch topic's open message
        batch_topic, topic_of_key = payload.batch_topic, payload.topic_of_key
        for _ in range(min(len(ahead), BATCH_ROUND)):
            entry = ahead.popleft()
            topic = batch_topic(topic_of_key(entry.key))
            batch = open_batch.get(topic)
            if batch is None or len(batch) >= payload.MAX_BATCH:
                batch = open_batch[topic] = []
                messages.append((topic, batch))
            batch.append(entry)
        in_flight = self.in_flight
        published = 0
        for topic, entries in messages:
            rowids = tuple(entry.rowid for entry in entries)
            text = payload.updates_batch([(prefix + topic_of_key(e.key), e.text)
                                          for e in entries])
            info = self._send(publish, prefix + topic, text, False, rowids)
            if info is not None and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
                self.lost = True
                break
            if info is not None:
                in_flight[info.mid] = rowids
                published += 1
        # the journal is acknowledged in its own order, whatever the grouping
        self._order.extend(sorted(e.rowid for _topic, entries in messages for e in entries))
        return published

    def confirm(self, mids: Iterable[int]) -> tuple[int | None, int, dict[str, str]]:
        """PUBACKs (message ids of this connection): (the row up to which the journal may be
        acknowledged, or None; how many rows that confirms; the retained payloads confirmed,
        by topic)."""
        in_flight, done, retained = self.in_flight, self._done, self._retained
        confirmed_retained: dict[str, str] = {}
        for mid in mids:
            rowids = in_flight.pop(mid, None)
            if rowids is not None:
                done.update(rowids)
                if retained:
                    kept = retained.pop(mid, None)
                    if kept is not None:
                        confirmed_retained[payload.topic_of_key(kept[0])] = kept[1]
        confirmed_upto = None
        order = self._order
        count = 0
        while order and order[0] in done:
            confirmed_upto = order.popleft()
            done.discard(confirmed_upto)
            count += 1
        return confirmed_upto, count, confirmed_retained

    def _send(self, publish: Publish, topic: str, text: str, retain: bool,
              rowids: tuple[int, ...]) -> Any:
        """`publish()`, or None for a topic or payload MQTT cannot carry (counted, skipped)."""
        try:
            return publish(topic, text, qos=self.qos, retain=retain)
        except ValueError as exc:
            self.rejected += len(rowids)
            self.last_error = f"MQTT sink cannot publish {topic!r}: {exc}"
            self._done.update(rowids)  # confirmed as far as the journal goes: never deliverable
            return None
