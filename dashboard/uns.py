"""The dashboard's view of the unified namespace: one MQTT subscription per plant prefix.

Both of the bridge's modes are understood: tag mode (one retained message per value on its own
topic) and machine mode (a machine's updates batched on `.../{cell}/updates`).

paho runs its network loop in its own thread; messages wait in a bounded deque (the oldest is
dropped, and counted, when the page's side falls behind) that the asyncio side drains
(`drain`, woken by `on_arrival` when the first message of a burst comes), so plant state is
only ever touched from the event loop. Every message is validated
on its own (`dashboard.uns_messages`): a bad one is counted, logged once per topic with the
reason, and dropped; nothing a publisher sends stops the consumer.

The broker URL may name the nodes of a clustered broker, comma-separated; the consumer moves
to the next node when its connection drops or a connect fails, as the bridge does
(`dashboard.broker_nodes`), and subscribes again there.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from functools import partial

import paho.mqtt.client as mqtt

from dashboard.broker_nodes import BrokerNodes
from dashboard.job_order_lists import ListPacing
from dashboard.state import PlantState
from dashboard.uns_messages import (
    JOB_ORDER_LIST,
    Batch,
    JobOrderList,
    RejectedMessage,
    model_for,
    parse,
    validate,
)

_logger = logging.getLogger(__name__)
INBOX_LIMIT = 50_000  # messages waiting for the event loop; past that the oldest go
RESUBSCRIBE_S = 1.0  # after a refused subscription
LOGGED_TOPICS_LIMIT = 1_000  # topics with a logged rejection; past that, rejections are counted


class UnsConsumer:
    def __init__(self, url: str, plants: dict[str, PlantState], client_id: str,
                 inbox_limit: int = INBOX_LIMIT) -> None:
        self.brokers = BrokerNodes.parse(url)  # ValueError naming a bad URL
        self.plants = plants
        self.inbox: deque[tuple[str, bytes, bool]] = deque(maxlen=inbox_limit)
        self.received = 0  # messages applied or looked at
        self.rejected = 0  # messages (or updates of a batch) that failed validation
        self.overflowed = 0  # messages dropped because the inbox was full
        self._logged: set[str] = set()
        self.lists = ListPacing()  # the cells' JobOrderLists: the queue's start (module doc)
        self.on_arrival: Callable[[], None] | None = None  # called from paho's thread
        self._awake = False  # on_arrival called and the inbox not drained since
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_subscribe = self._on_subscribe
        self.client.reconnect_delay_set(0.5, 5)
        self._stopping = False

    def start(self) -> None:
        self.client.connect_async(*self.brokers.current, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            _logger.warning("MQTT broker %s refused the dashboard: %s", self.broker, reason)
            return
        self._subscribe()

    def _subscribe(self) -> None:
        # Re-subscribed on every connect: retained values give the current picture at once.
        if not self._stopping:
            self.client.subscribe([(f"{name}/#", 1) for name in self.plants])

    def _on_subscribe(self, _client, _userdata, _mid, reasons, _props) -> None:
        """A node of a cluster may refuse a subscription while it elects new leaders (NATS
        does, after another node died): asked again a second later, not left without one."""
        if any(reason.is_failure for reason in reasons):
            _logger.warning("MQTT broker %s refused the subscription (%s): asking again in "
                            "1 s", self.broker, ", ".join(map(str, reasons)))
            retry = threading.Timer(RESUBSCRIBE_S, self._subscribe)
            retry.daemon = True
            retry.start()

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props) -> None:
        if not self._stopping:
            _logger.warning("MQTT broker %s lost: %s", self.broker, reason)
            self._next_broker()

    def _on_connect_fail(self, _client, _userdata) -> None:
        self._next_broker()

    def _next_broker(self) -> None:
        """The next reconnect (paho's, after its back-off) goes to the next node of the list."""
        if len(self.brokers.nodes) > 1:
            self.client.connect_async(*self.brokers.next(), keepalive=30)

    @property
    def broker(self) -> str:
        host, port = self.brokers.current
        return f"mqtt://{host}:{port}"

    def _on_message(self, _client, _userdata, message) -> None:
        self.offer(message.topic, message.payload, bool(message.retain))

    def offer(self, topic: str, payload: bytes, retained: bool = False) -> None:
        """A message from the broker (paho's thread): queued for `drain`, the oldest dropped
        when the inbox is full."""
        inbox = self.inbox
        if len(inbox) == inbox.maxlen:
            self.overflowed += 1
        inbox.append((topic, payload, retained))
        if not self._awake and self.on_arrival is not None:
            self._awake = True  # one wake-up for a burst of messages
            self.on_arrival()

    def drain(self) -> int:
        """Apply every message received so far; returns how many were looked at."""
        count = 0
        inbox = self.inbox
        self._awake = False  # before taking: a message offered from now on wakes again
        while inbox:
            topic, payload, retained = inbox.popleft()
            count += 1
            try:
                self._apply(topic, payload, retained)
            except RejectedMessage as exc:
                self._reject(topic, str(exc))
            except Exception as exc:  # a bug of ours must not end the input either
                self._reject(topic, f"not applied: {type(exc).__name__}: {exc}"[:300])
        for topic, apply in self.lists.due():
            try:
                apply()
            except RejectedMessage as exc:
                self._reject(topic, str(exc))
        self.received += count
        return count

    def _apply(self, topic: str, payload: bytes, retained: bool) -> None:
        name, _, rest = topic.partition("/")
        plant = self.plants.get(name)
        if plant is None:
            return
        path = rest.split("/")
        if _is_job_order_list(path):
            self._list(topic, topic, partial(plant.apply_uns, path), path, payload)
            return
        message = parse(path, payload)
        if message is None:
            return
        if not isinstance(message, Batch):
            plant.apply_uns(path, message, fresh=not retained)
            return
        # the bridge's machine mode: a machine's updates in one message, each with the topic
        # and payload it has in tag mode, each checked on its own
        for update in message.updates:
            try:
                update_name, _, update_rest = str(update.get("topic", "")).partition("/")
                if update_name != plant.name:
                    raise RejectedMessage("updates: an update's topic is not below the plant")
                update_path = update_rest.split("/")
                if _is_job_order_list(update_path):
                    self._list(str(update["topic"]), topic, partial(plant.apply_uns, update_path),
                               update_path, update)
                    continue
                model = model_for(update_path)
                if model is not None and model is not Batch:
                    plant.apply_uns(update_path, validate(model, update))
            except RejectedMessage as exc:
                self._reject(topic, str(exc))

    def _list(self, list_topic: str, topic: str, apply, path: list[str],
              data: bytes | dict) -> None:
        """A cell's JobOrderList (its own message, or an update of a batch on `topic`):
        validated and applied now, or later (`dashboard.job_order_lists`)."""
        def validated_and_applied() -> None:
            apply(parse(path, data) if isinstance(data, bytes) else validate(JobOrderList, data))

        if self.lists.now_or_later(list_topic, (topic, validated_and_applied)):
            validated_and_applied()

    def _reject(self, topic: str, reason: str) -> None:
        self.rejected += 1
        if topic in self._logged or len(self._logged) >= LOGGED_TOPICS_LIMIT:
            return
        self._logged.add(topic)
        if len(self._logged) == LOGGED_TOPICS_LIMIT:
            _logger.warning("rejected UNS messages on %d topics: further ones are only counted",
                            LOGGED_TOPICS_LIMIT)
        # the topic is a publisher's text: shown with repr, so it cannot fake log lines
        _logger.warning("UNS message rejected on %r: %s (further ones on this topic are only "
                        "counted)", topic[:300], reason)


def _is_job_order_list(path: list[str]) -> bool:
    return len(path) == 7 and (path[5], path[6]) == JOB_ORDER_LIST
