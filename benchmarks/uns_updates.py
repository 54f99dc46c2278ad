"""What a subscriber to the unified namespace received, one tag update at a time, and the
accounting of the bridges' per-topic sequence numbers (shared by the end-to-end benchmarks)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator


def updates(messages: Iterable[tuple[float, str, bytes]]
            ) -> Iterator[tuple[int, float, str, dict]]:
    """(message index, receive time, the update's tag-mode topic, its payload) for every tag
    update, machine-mode batches (`.../updates`) unpacked; the bridges' status is skipped."""
    for index, (received, topic, payload) in enumerate(messages):
        if topic.startswith("_bridge/"):
            continue
        document = json.loads(payload)
        batch = document.get("updates") if topic.endswith("/updates") else None
        if batch is None:
            yield index, received, topic, document
        else:
            for update in batch:
                yield index, received, update["topic"], update


class SequenceAccount:
    """Per topic, the sequence numbers seen: a number never seen is lost, one seen twice a
    repeated delivery (QoS 1 is at least once)."""

    def __init__(self) -> None:
        self._seqs: dict[str, set[int]] = {}
        self._counts: dict[str, int] = {}

    def add(self, topic: str, seq: int) -> None:
        self._seqs.setdefault(topic, set()).add(seq)
        self._counts[topic] = self._counts.get(topic, 0) + 1

    @property
    def missing(self) -> int:
        return sum(max(s) - len(s) for s in self._seqs.values())

    @property
    def repeated(self) -> int:
        return sum(self._counts[t] - len(s) for t, s in self._seqs.items())

    def __len__(self) -> int:
        return len(self._seqs)
