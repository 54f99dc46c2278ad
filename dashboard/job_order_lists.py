"""How often a cell's JobOrderList is read: the job queue's start, not its every change.

A cell's `JobOrderList` on the UNS holds every job order it has (a structure each, ~15 kB for
35 job orders) and the server rewrites it with each change, up to once a second; validating
one costs about a millisecond. The job queue needs it for its start and to correct what the
change events missed (`dashboard.job_queue`); the changes themselves come as events. So each
topic's list is applied at once the first time and then at most once every `LIST_EVERY_S`; in
between only the newest one is kept, applied when its time comes.

>>> now = [0.0]
>>> pacing = ListPacing(every_s=5.0, clock=lambda: now[0])
>>> pacing.now_or_later("cell/list", "first"), pacing.now_or_later("cell/list", "second")
(True, False)
>>> pacing.now_or_later("cell/list", "third"), pacing.due()
(False, [])
>>> now[0] = 5.0
>>> pacing.due()  # the newest waiting one
['third']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

LIST_EVERY_S = 5.0
MAX_TOPICS = 10_000  # topics paced; lists on topics past that are applied as they come


class ListPacing:
    def __init__(self, every_s: float = LIST_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self._clock = every_s, clock
        self._due: dict[str, float] = {}  # topic -> when its next list may be applied
        self._waiting: dict[str, Any] = {}  # topic -> its newest list not applied yet

    def now_or_later(self, topic: str, item: Any) -> bool:
        """True: apply `item` now; False: it waits (replacing the one waiting before it)."""
        now = self._clock()
        if now >= self._due.get(topic, 0.0):
            if topic in self._due or len(self._due) < MAX_TOPICS:
                self._due[topic] = now + self.every_s
            self._waiting.pop(topic, None)
            return True
        self._waiting[topic] = item  # only topics in `_due` wait: bounded by MAX_TOPICS
        return False

    def due(self) -> list[Any]:
        """The waiting items whose time has come; apply them now."""
        if not self._waiting:
            return []
        now = self._clock()
        ready = [topic for topic in self._waiting if now >= self._due[topic]]
        for topic in ready:
            self._due[topic] = now + self.every_s
        return [self._waiting.pop(topic) for topic in ready]
