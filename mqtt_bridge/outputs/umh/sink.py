"""Publishes the journal to a United Manufacturing Hub broker (`UmhSink`).

The MQTT output's delivery, unchanged (`MqttSink`: paho on the sink's loop, QoS 1, a fresh
client per connection, acknowledged journal rows only once the broker confirmed them, a broker
outage only ever leaves data waiting in the journal), with UMH's topics and payloads: the
journal holds each item's entry text (`messages.UmhEncoder`), and a delivery round of up to
`ROUND` entries becomes

1. the values: Classic merges the values of one `_historian` topic with one timestamp into
   one message (`{"timestamp_ms": t, "Parts": 42, "GoodParts": 40}`), Core sends one each;
2. the other messages (`_analytics`, events, alarms, gap records), as they are;
3. one delivery record per machine (`<location>/_local/delivery`): the `seq` of every item
   of the round.

The round's messages wait in the window and go to paho only as its in-flight window has room
(20 by default, as the MQTT output's tag mode: about one message per value). Nothing is
retained (UMH's contracts are streams). The round's journal rows are confirmed
with the PUBACK of its last message: a broker acknowledges QoS 1 messages in the order it
received them (MQTT 3.1.1, 4.6), so that PUBACK says the whole round arrived.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from mqtt_bridge.journal.interface import JournalEntry, SinkJournal
from mqtt_bridge.outputs.mqtt.sink import MqttSink
from mqtt_bridge.outputs.mqtt.window import PublishWindow
from mqtt_bridge.outputs.umh.messages import UmhEncoder
from mqtt_bridge.outputs.umh.settings import UmhSettings

ROUND = 2000  # journal entries per delivery round


class UmhWindow(PublishWindow):
    """The MQTT output's publish window with UMH's messages (module docstring). A round's
    messages wait here and go to paho only as the in-flight window has room: paho walks its
    whole list of unconfirmed messages on every PUBACK, so a round of thousands queued in paho
    at once cost more than all the rest (profiled)."""

    def __init__(self, prefix: str, qos: int) -> None:
        super().__init__(prefix, qos)
        self._pending: deque[tuple[str, str, tuple[int, ...]]] = deque()

    def publish_batches(self, publish: Any, ahead: deque[JournalEntry], room: int) -> int:
        pending = self._pending
        if not pending and ahead:
            messages, rowids = _round(ahead, min(len(ahead), ROUND))
            last = len(messages) - 1
            pending.extend((topic, text, rowids if index == last else ())
                           for index, (topic, text) in enumerate(messages))
            self._order.extend(rowids)
        in_flight = self.in_flight
        published = 0
        while pending and published < room:
            topic, text, carried = pending.popleft()
            info = self._send(publish, topic, text, False, carried)
            if info is not None and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
                self.lost = True
                break
            if info is not None:
                in_flight[info.mid] = carried
                published += 1
        return published


class UmhSink(MqttSink):
    """Drains the journal to a UMH broker; see the module docstring.

        async with UmhSink(journal, UmhSettings(url="mqtt://127.0.0.1:1883")) as sink:
            await sink.flush(timeout=10)
    """

    publish_window = UmhWindow

    def __init__(self, journal: SinkJournal, settings: UmhSettings, cursor: str = "umh") -> None:
        # the encoder remembers what _analytics needs (job orders, counters) in append order
        self.encode = UmhEncoder(settings.form, settings.origin_id, settings.state_variable)
        super().__init__(journal, settings, cursor)


def _round(ahead: deque[JournalEntry], count: int) -> tuple[list[tuple[str, str]], tuple]:
    """The messages of `count` entries taken from `ahead`, in the order of the module
    docstring, and the entries' rowids."""
    values: list[tuple[str, str, dict[str, str]]] = []  # (topic, timestamp_ms, tag: value)
    open_values: dict[tuple[str, str], dict[str, str]] = {}
    others: list[tuple[str, str]] = []
    delivery: dict[str, dict[str, list[str]]] = {}  # topic -> series -> records
    rowids = []
    for _ in range(count):
        entry = ahead.popleft()
        rowids.append(entry.rowid)
        for line in entry.text.split("\n"):
            kind, rest = line[:1], line[2:]
            if kind == "s":
                topic, series, record = rest.split("\t")
                delivery.setdefault(topic, {}).setdefault(series, []).append(record)
            elif kind == "v":
                topic, stamp, tag, value = rest.split("\t")
                members = open_values.get((topic, stamp))
                if members is None or tag in members:  # one tag once per message
                    members = open_values[(topic, stamp)] = {}
                    values.append((topic, stamp, members))
                members[tag] = value
            elif kind == "m":
                topic, text = rest.split("\t", 1)
                others.append((topic, text))
    messages = [(topic, '{"timestamp_ms":' + stamp + "".join(
        f",{tag}:{value}" for tag, value in members.items()) + "}")
        for topic, stamp, members in values]
    messages.extend(others)
    for topic, series in delivery.items():
        messages.append((topic, '{"seq":{' + ",".join(
            f"{name}:[{','.join(records)}]" for name, records in series.items()) + "}}"))
    return messages, tuple(rowids)
