"""The edge node's Sparkplug state, without any networking: bdSeq, seq, aliases, births.

One edge node per bridge, one device per machine. The node knows every metric's newest value
(`learn`, fed with this output's journal text as items are appended); a birth reports those
values and remembers, per metric, the journal sequence number it reported (its horizon). A
value sent afterwards that is not newer than its metric's horizon is `is_historical`: a value
the journal replays after an outage, a restart or a rebirth, which the birth has already
superseded. A late value (given back from the server's history) is always historical.

    node = EdgeNode(settings, bd_seq=0)
    will = node.will()                 # NDEATH for the next CONNECT (bdSeq as it says)
    node.connect_sent()                # ... once the CONNECT went out
    messages = node.births(now_ms)     # [(topic, payload)]: NBIRTH (seq 0), then DBIRTHs
    messages = node.data(entries, now_ms)   # DDATA per device, or None: a rebirth is due

A device whose source is lost (its OPC UA server disconnected, or the machine left discovery)
is reported dead with a DDEATH once every row appended before the loss was sent (`lost`,
`deaths_due`); it is not in births while dead, and comes back with a birth: when its source
is back (`back`) or when a row of it arrives (history read back after a reconnect).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mqtt_bridge.journal.interface import JournalEntry
from mqtt_bridge.outputs.sparkplug import payload
from mqtt_bridge.outputs.sparkplug.metrics import GAP, LATE, parse, parse_for_data
from mqtt_bridge.outputs.sparkplug.settings import SparkplugSettings


class EdgeNode:
    """Sequence numbers, aliases and what the last birth reported."""

    def __init__(self, settings: SparkplugSettings, bd_seq: int = 0) -> None:
        self.settings = settings
        self.bd_seq = bd_seq % 256  # the value the next CONNECT's will carries
        self._next_bd_seq = self.bd_seq
        self.seq = 0
        self.latest: dict[str, tuple[int, str]] = {}  # key: (journal seq, text)
        self._aliases: dict[str, int] = {}  # key: alias, stable for the process
        # key: (horizon seq, alias, datatype, device id), as the last birth reported it
        self._born: dict[str, tuple[int, int, int, str]] = {}
        self.births_sent = 0
        self.dead: set[str] = set()  # device ids whose DDEATH went out, not born since
        self._dying: dict[str, int] = {}  # device id: the last row appended before its loss

    # -- what the node knows --------------------------------------------------------------

    def learn(self, key: str, seq: int, text: str, current: bool = True) -> None:
        """The newest value of a metric (called for each item appended, in order). A value
        that is not `current` (a late value from history, a gap record) is learned only for a
        metric not known yet, so that the metric can be born (null, for a gap)."""
        known = self.latest.get(key)
        if known is None or (current and seq >= known[0]):
            self.latest[key] = (seq, text)

    def learn_rows(self, entries: Iterable[JournalEntry]) -> None:
        """`learn` from rows an earlier run left in the journal."""
        for entry in entries:
            current = parse(entry.text).kind not in (LATE, GAP)
            self.learn(entry.key, entry.seq, entry.text, current=current)

    # -- messages -------------------------------------------------------------------------

    def will(self) -> bytes:
        """The NDEATH for the next CONNECT: bdSeq 0 at first, one more after each CONNECT sent
        (`connect_sent`); a connection attempt that sent no CONNECT packet does not count."""
        return payload.death(self._next_bd_seq)

    def connect_sent(self) -> None:
        """The CONNECT carrying `will()` went out: its bdSeq is the session's from now on."""
        self.bd_seq = self._next_bd_seq
        self._next_bd_seq = (self.bd_seq + 1) % 256

    @property
    def next_bd_seq(self) -> int:
        """What the following CONNECT will carry (persisted across restarts)."""
        return self._next_bd_seq

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq = (seq + 1) % 256
        return seq

    def births(self, now: int) -> list[tuple[str, bytes]]:
        """NBIRTH (seq 0, the bdSeq of the current will) and a DBIRTH per device with every
        metric known, each with name, alias, datatype, timestamp and newest value."""
        self.seq = 0
        settings = self.settings
        messages = [(settings.topic("NBIRTH"), payload.node_birth(self._next_seq(), self.bd_seq,
                                                                  now))]
        devices: dict[str, list[payload.BirthMetric]] = {}
        born: dict[str, tuple[int, int, int, str]] = {}
        for key, (seq, text) in self.latest.items():
            update = parse(text)
            if update.device in self.dead:
                continue
            previous = self._born.get(key)
            # a null (a gap) keeps the datatype it was born with
            datatype = (previous[2] if previous is not None and update.null
                        else update.datatype)
            alias = self._aliases.get(key)
            if alias is None:
                alias = self._aliases[key] = len(self._aliases) + 1
            born[key] = (seq, alias, datatype, update.device)
            devices.setdefault(update.device, []).append(
                (update.timestamp, update.metric, update.raw, alias, datatype,
                 update.kind == GAP))
        self._born = born
        for device, metrics in devices.items():
            messages.append((settings.topic("DBIRTH", device),
                             payload.device_birth(self._next_seq(), now, metrics)))
        self.births_sent += 1
        return messages

    def data(self, entries: Sequence[JournalEntry], now: int) -> list[tuple[str, bytes]] | None:
        """DDATA messages for `entries` (journal order kept per device), or None when one of
        them names a metric the last birth did not report: the node must be born again."""
        born = self._born
        devices: dict[str, list[payload.DataMetric]] = {}
        for entry in entries:
            known = born.get(entry.key)
            if known is None:  # rows of dead devices: back, born again
                self.dead -= {parse(e.text).device for e in entries if e.key not in born}
                return None
            horizon, alias, datatype, device = known
            kind, its_datatype, timestamp, raw = parse_for_data(entry.text)
            historical = entry.seq <= horizon or kind in (LATE, GAP)
            devices.setdefault(device, []).append(
                (timestamp, raw, alias, its_datatype, datatype, historical))
        messages = []
        limit = self.settings.max_metrics
        for device, metrics in devices.items():
            topic = self.settings.topic("DDATA", device)
            for start in range(0, len(metrics), limit):
                messages.append((topic, payload.device_data(self._next_seq(), now,
                                                            metrics[start:start + limit])))
        return messages

    def lost(self, live: set[str], last_rowid: int) -> bool:
        """The devices whose source is live now; those born and not live will die after row
        `last_rowid` is sent. True if a dead device is live again (a birth is due)."""
        for device in {known[3] for known in self._born.values()} - live - self.dead:
            self._dying.setdefault(device, last_rowid)
        for device in live & self._dying.keys():
            del self._dying[device]  # back before its DDEATH went out
        back = live & self.dead
        self.dead -= back
        return bool(back)

    def deaths_due(self, sent_upto: int, now: int) -> list[tuple[str, bytes]]:
        """A DDEATH (the node's next seq) for each dying device whose rows up to its loss were
        sent; its metrics leave the birth, so a row of it makes the node born again."""
        messages = []
        for device, rowid in list(self._dying.items()):
            if rowid <= sent_upto:
                del self._dying[device]
                self.dead.add(device)
                self._born = {k: v for k, v in self._born.items() if v[3] != device}
                messages.append((self.settings.topic("DDEATH", device),
                                 payload.device_death(self._next_seq(), now)))
        return messages

    def stats(self) -> dict[str, Any]:
        return {"metrics": len(self._born), "births": self.births_sent, "bdSeq": self.bd_seq,
                "dead_devices": len(self.dead)}
