"""The OPC UA input's one queue of history reads (`inputs/opcua/recovery.py`): jobs run one at
a time in order, a read-back waiting for room in the journal lets queued jobs run first, and
the end of a session cancels what runs and what waits. The jobs here talk to no server: what
is tested is the queue (the reads themselves: test_source_subscriptions, test_loss_cases)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mqtt_bridge.drop_report import Dropped
from mqtt_bridge.inputs.opcua import dropped as drops
from mqtt_bridge.inputs.opcua.hand_on import HandOn
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.recovery import Recovery
from mqtt_bridge.inputs.opcua.settings import OpcUaSettings
from mqtt_bridge.inputs.opcua.subscription import Subscriptions
from mqtt_bridge.journal import Journal as RealJournal
from mqtt_bridge.sample import MachinePath, Sample

GUARD_S = 10.0  # a queue that deadlocks fails here instead of hanging the suite


class Journal:
    """As full as a test says (`dropped.Room`)."""

    max_items = 10

    def __init__(self) -> None:
        self.free = 0
        self.items: list[object] = []

    def room(self) -> int:
        return self.free

    def append(self, items: list[object], settles: object = ()) -> None:
        self.items.extend(items)
        self.free -= len(items)


def recovery_for(journal: Journal) -> Recovery:
    settings = OpcUaSettings(url="opc.tcp://127.0.0.1:4840")
    counters = dict.fromkeys(("samples", "events", "repeats_skipped", "backfilled", "gaps",
                              "overflows", "overflows_lost", "bad_items"), 0)
    subscriptions = Subscriptions(settings, lambda _n: None, lambda _e: None, counters)
    flow = HandOn(settings, journal.append, LastSeen(None), counters, subscriptions)
    return Recovery(flow, journal, dict)


async def test_a_read_back_waiting_for_room_lets_the_jobs_queued_after_it_run_first() -> None:
    journal = Journal()
    recovery = recovery_for(journal)
    recovery.start(client=object())  # type: ignore[arg-type]  (these jobs read no history)
    press = MachinePath("acme", "s", "a", "l", "press", "PressBrakeType")
    when = datetime(2026, 6, 1, tzinfo=UTC)
    values = [Sample(press, "values", "T", float(i), when, None, "Good") for i in range(5)]
    report = Dropped(1, 5, 5, when, when, 5, 5, 5, values[0].key)
    order: list[str] = []

    async def read_back(_client: object) -> None:
        order.append("read-back waits for room")
        await drops.refill(journal, [(values, report)], journal.append, [],
                           wait=recovery.let_others_run)
        order.append("read-back handed on")

    async def overflow_gap(_client: object) -> None:
        order.append("overflow's gap read")
        journal.free = 10  # meanwhile the outputs made room

    async def third(_client: object) -> None:
        order.append("third")

    try:
        await asyncio.wait_for(asyncio.gather(recovery.run(read_back),
                                              recovery.run(overflow_gap),
                                              recovery.run(third)), GUARD_S)
    finally:
        await recovery.stop()
    assert order == ["read-back waits for room", "overflow's gap read", "third",
                     "read-back handed on"]
    assert journal.items == values


async def test_jobs_run_one_at_a_time_and_the_end_of_a_session_cancels_them() -> None:
    recovery = recovery_for(Journal())
    recovery.start(client=object())  # type: ignore[arg-type]
    started, cancelled = asyncio.Event(), []
    ran: list[str] = []

    async def holding(_client: object) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a history read that never answers
        except asyncio.CancelledError:
            cancelled.append("holding")
            raise

    async def next_one(_client: object) -> None:
        ran.append("next")

    first = asyncio.ensure_future(recovery.run(holding))
    second = asyncio.ensure_future(recovery.run(next_one))
    await asyncio.wait_for(started.wait(), GUARD_S)
    await asyncio.sleep(0)
    assert ran == []  # one job at a time: the next waits
    await recovery.stop()
    assert cancelled == ["holding"] and ran == []
    for waiter in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await waiter


async def test_stopping_never_swallows_the_cancellation_of_whoever_stops_it() -> None:
    """A source cancelled while it stops the queue ends cancelled (a swallowed cancellation
    kept a bridge reconnecting after SIGTERM), and the queue is cleaned up all the same."""
    recovery = recovery_for(Journal())
    recovery.start(client=object())  # type: ignore[arg-type]
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_to_cancel(_client: object) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # a history read that takes a while to wind down
            raise

    waiter = asyncio.ensure_future(recovery.run(slow_to_cancel))
    queued = asyncio.ensure_future(recovery.run(slow_to_cancel))
    await asyncio.wait_for(started.wait(), GUARD_S)
    stopping = asyncio.ensure_future(recovery.stop())
    await asyncio.sleep(0.01)  # stop() now waits for the job to wind down
    stopping.cancel()  # whoever stops the queue is cancelled meanwhile (SIGTERM)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(stopping, GUARD_S)
    assert stopping.cancelled()
    for future in (waiter, queued):  # the running and the queued job both ended
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(future, GUARD_S)


async def test_a_gap_record_for_dropped_events_waits_for_room_and_drops_no_sent_row(
    tmp_path: Path,
) -> None:
    """Issue 23: a bridge restarted with its journal at the bound (every row sent, none
    confirmed yet) named the dropped events (or a variable without history) by a gap record
    at once: the append dropped the oldest row, which the sink had sent already; reported
    dropped, it came back from history a second time under a new number. The gap record
    waits for room like the values read back, and no row is dropped."""
    press = MachinePath("acme", "s", "a", "l", "press", "PressBrakeType")
    when = datetime(2026, 6, 1, tzinfo=UTC)
    alarms = drops.events_gap(press, "alarms", Dropped(1, 3, 3)).key
    with RealJournal(tmp_path / "bridge.journal", max_items=10) as journal:
        journal.register("sink", lambda item, seq: f"{type(item).__name__} {seq}")
        journal.append([Sample(press, "values", "T", float(i), when, None, "Good")
                        for i in range(10)])
        journal.commit()
        sent = journal.read("sink", 10)  # in flight: sent, not confirmed
        settings = OpcUaSettings(url="opc.tcp://127.0.0.1:4840")
        counters = dict.fromkeys(("samples", "events", "repeats_skipped", "backfilled", "gaps",
                                  "overflows", "overflows_lost", "bad_items"), 0)
        subscriptions = Subscriptions(settings, lambda _n: None, lambda _e: None, counters)
        flow = HandOn(settings, journal.append, LastSeen(None), counters, subscriptions)
        recovery = Recovery(flow, journal, lambda: {alarms: (press, "alarms")})
        recovery.start(client=object())  # type: ignore[arg-type]  (no history is read)
        try:
            recovery.dropped([Dropped(1, 3, 3, key=alarms)])
            for _ in range(5):  # the queue's task runs, finds no room and waits
                await asyncio.sleep(0)
            assert journal.stats()["dropped"] == 0 and journal.last_rowid == 10
            journal.ack("sink", sent[-1].rowid)  # the peer confirmed them
            journal.commit()
            await asyncio.wait_for(_until(lambda: journal.last_rowid == 11), GUARD_S)
        finally:
            await recovery.stop()
        journal.commit()
        assert journal.stats()["dropped"] == 0 and counters["gaps"] == 1
        assert [e.text for e in journal.read("sink", 10)] == ["Gap 1"]  # its own series


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)
