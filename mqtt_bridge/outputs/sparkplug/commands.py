"""What the edge node does with a host's commands (NCMD, DCMD): the bridge is read-only toward
the plant, so the one command it follows is the NCMD `Node Control/Rebirth` = true. Any other
NCMD, and every DCMD (a write to a machine), is ignored: logged once per message type and
reason (a host that repeats it does not flood the log), counted in `ignored`. A payload larger
than 64 kB or not Sparkplug B is ignored the same way, never parsed further.

    commands = Commands(settings)
    commands.topics                      # what the node subscribes to
    commands.rebirth_requested(topic, payload_bytes)   # True: be born again
"""

from __future__ import annotations

import logging

from mqtt_bridge.outputs.sparkplug import payload
from mqtt_bridge.outputs.sparkplug.settings import SparkplugSettings

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 64 * 1024


class Commands:
    def __init__(self, settings: SparkplugSettings) -> None:
        self._node_topic = settings.topic("NCMD")
        self._device_prefix = settings.topic("DCMD") + "/"
        self.topics = (self._node_topic, self._device_prefix + "+")
        self.ignored = 0
        self._logged: set[tuple[str, str]] = set()  # (message type, reason): at most 6

    def concerns(self, topic: str) -> bool:
        return topic == self._node_topic or topic.startswith(self._device_prefix)

    def rebirth_requested(self, topic: str, data: bytes) -> bool:
        """Whether the command on `topic` asks this node for a rebirth; anything else is
        ignored with one warning per message type and reason."""
        kind = "NCMD" if topic == self._node_topic else "DCMD"
        if len(data) > MAX_COMMAND_BYTES:
            return self._ignore(kind, topic, f"{len(data)} bytes, more than "
                                f"{MAX_COMMAND_BYTES}", "too large")
        if kind == "DCMD":
            return self._ignore(kind, topic, "the bridge is read-only toward the plant, it "
                                "takes no device commands", "read-only")
        request = payload.rebirth_request(data)
        if request is None:
            return self._ignore(kind, topic, "not a Sparkplug B payload", "malformed")
        if not request:
            return self._ignore(kind, topic, "only 'Node Control/Rebirth' = true is "
                                "understood", "not a rebirth")
        return True

    def _ignore(self, kind: str, topic: str, why: str, reason: str) -> bool:
        self.ignored += 1
        if (kind, reason) not in self._logged:
            self._logged.add((kind, reason))
            log.warning("Sparkplug %s on %s ignored: %s (further %s commands ignored for the "
                        "same reason are only counted)", kind, topic, why, kind)
        return False
