"""The dashboard's view of the unified namespace: one MQTT subscription per plant prefix.

Both of the bridge's modes are understood: tag mode (one retained message per value on its own
topic) and machine mode (a machine's updates batched on `.../{cell}/updates`).

paho runs its network loop in its own thread; messages wait in a deque that the asyncio side
drains (`drain`), so plant state is only ever touched from the event loop.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from dashboard.state import PlantState

_logger = logging.getLogger(__name__)


class UnsConsumer:
    def __init__(self, url: str, plants: dict[str, PlantState], client_id: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        self.plants = plants
        self.inbox: deque[tuple[str, bytes, bool]] = deque()
        self.received = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.5, 5)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            _logger.warning("MQTT broker refused the dashboard: %s", reason)
            return
        # Re-subscribed on every connect: retained values give the current picture at once.
        client.subscribe([(f"{name}/#", 1) for name in self.plants])

    def _on_message(self, _client, _userdata, message) -> None:
        self.inbox.append((message.topic, message.payload, bool(message.retain)))

    def drain(self) -> int:
        """Apply every message received so far; returns how many."""
        count = 0
        inbox, plants = self.inbox, self.plants
        while inbox:
            topic, payload, retained = inbox.popleft()
            count += 1
            name, _, rest = topic.partition("/")
            plant = plants.get(name)
            if plant is None or not payload:
                continue
            try:
                document = json.loads(payload)
            except ValueError:
                _logger.warning("not JSON on %s", topic)
                continue
            if not isinstance(document, dict):
                continue
            if rest.endswith("/updates") and isinstance(document.get("updates"), list):
                # the bridge's machine mode: a machine's updates in one message, each with the
                # topic and payload it has in tag mode
                for update in document["updates"]:
                    name, _, update_rest = str(update.pop("topic", "")).partition("/")
                    if name == plant.name:
                        plant.apply_uns(update_rest.split("/"), update)
            else:
                plant.apply_uns(rest.split("/"), document, fresh=not retained)
        self.received += count
        return count
