"""The primary host application's STATE as the edge node follows it (Sparkplug 3.0):
`spBv1.0/STATE/{host_id}` carries `{"online": true|false, "timestamp": ms}`, retained.

    host = PrimaryHost("spBv1.0/STATE/scada")
    host.observe(b'{"online": true, "timestamp": 1700000000000}')
    host.online    # True: the births may go out

A STATE older than the last one seen is ignored (the spec's rule); one that is not such JSON,
or larger than 1 kB, is ignored with one warning naming the topic. `lost` turns true when an
online host goes offline: the edge node then says goodbye and waits for it again.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

MAX_STATE_BYTES = 1024


class PrimaryHost:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.online = False
        self.lost = False
        self._time = -1

    def observe(self, data: bytes) -> bool:
        """Take a STATE payload in; True if it changed what the node knows."""
        where = f"Sparkplug STATE on {self.topic}"
        if not data:
            return False  # a retained STATE being cleared
        if len(data) > MAX_STATE_BYTES:
            log.warning("%s ignored: %d bytes, more than %d", where, len(data), MAX_STATE_BYTES)
            return False
        try:
            state = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            log.warning("%s ignored: not JSON", where)
            return False
        if not (isinstance(state, dict) and type(state.get("online")) is bool
                and type(state.get("timestamp")) is int):
            log.warning('%s ignored: expected {"online": true|false, "timestamp": ms}', where)
            return False
        if state["timestamp"] < self._time:
            return False
        self._time = state["timestamp"]
        was_online, self.online = self.online, state["online"]
        if was_online and not self.online:
            self.lost = True
        return True
