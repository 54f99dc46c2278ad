"""The OPC UA source against the in-test Machinery server: live values, events, machines that
come and go, and gaps closed from history without repeats."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import ua

from mqtt_bridge.inputs.opcua import OpcUaSettings, OpcUaSource
from mqtt_bridge.inputs.opcua.discovery import Hierarchy
from mqtt_bridge.inputs.opcua.gate import OVERFLOW_BITS
from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.inputs.opcua.values import json_value
from mqtt_bridge.journal import Journal
from mqtt_bridge.sample import EventSample, Gap, Sample
from tests.bridge.machinery_server import MachineryServer
from tests.services import condition_name

TEMPERATURE_KEY = "factory/Plant/Bending/Line1/Press1/Monitoring/Temperature"


class Collected(list):
    async def wait_for(self, done: Callable[[list], bool], timeout: float = 20.0) -> None:
        """Wait until `done(self)` holds; fail the test, naming it, if not within `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(self):
            if loop.time() > deadline:
                raise AssertionError(f"not met within {timeout:g} s: {condition_name(done)} "
                                     f"({len(self)} items)")
            await asyncio.sleep(0.02)

    def values(self, key: str) -> list[object]:
        return [s.value for s in self if isinstance(s, Sample) and s.key == key]


@contextlib.asynccontextmanager
async def running_source(
    server: MachineryServer, last_seen: LastSeen | None = None, **settings: object
) -> AsyncIterator[tuple[OpcUaSource, Collected]]:
    got = Collected()
    options = {"rebrowse_interval": 0.3, "publishing_interval": 50.0, **settings}
    source = OpcUaSource(OpcUaSettings(url=server.url, **options), Hierarchy(), got.extend,
                         last_seen)
    task = asyncio.create_task(source.run())
    try:
        await asyncio.wait_for(source.connected.wait(), 20)
        yield source, got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def write(server: MachineryServer, *writes: tuple[str, str, object]) -> list:
    return await asyncio.to_thread(server.set_values, list(writes))


async def test_values_arrive_as_samples(machinery_server: MachineryServer) -> None:
    async with running_source(machinery_server) as (source, got):
        times = await write(
            machinery_server,
            ("Press1", "Temperature", 31.5),
            ("Press1", "Temperature", 32.5),
            ("Laser1", "CurrentState", "Executing"),
        )
        await got.wait_for(lambda g: 32.5 in g.values(TEMPERATURE_KEY))
    temperatures = [s for s in got if isinstance(s, Sample) and s.key == TEMPERATURE_KEY]
    assert [s.value for s in temperatures][-2:] == [31.5, 32.5]
    last = temperatures[-1]
    assert last.machine.cell == "Press1" and last.machine.cell_type == "PressBrakeType"
    assert (last.group, last.tag, last.status) == ("Monitoring", "Temperature", "Good")
    assert last.source_time == times[1]
    assert last.node_id == machinery_server.node_id("Press1", "Temperature")
    assert "Executing" in got.values("factory/Plant/Bending/Line1/Laser1/state/CurrentState")
    # Initial values of every subscribed variable arrive too, e.g. the nameplate.
    assert "Laser1" in got.values("factory/Plant/Bending/Line1/Laser1/identification/SerialNumber")
    assert source.stats()["machines"] == 3


async def test_alarms_arrive_as_event_samples(machinery_server: MachineryServer) -> None:
    async with running_source(machinery_server) as (_, got):
        await asyncio.to_thread(machinery_server.fire_alarm, "Laser1", "Nozzle worn", 800)
        await got.wait_for(lambda g: any(isinstance(i, EventSample) for i in g))
    events = [i for i in got if isinstance(i, EventSample)]
    assert len(events) == 1
    event = events[0]
    assert event.machine.cell == "Laser1"
    assert (event.event_type, event.severity, event.message) == (
        "AlarmConditionType", 800, "Nozzle worn"
    )
    assert event.key.endswith("/Laser1/alarms")
    assert event.fields["SourceName"] == "Laser1"


# asyncua's server, deleting a monitored node, forgets to await its own callback.
@pytest.mark.filterwarnings("ignore:coroutine '.*datachange_callback' was never awaited")
async def test_machines_added_and_removed_at_runtime(fresh_server: MachineryServer) -> None:
    async with running_source(fresh_server) as (source, got):
        await asyncio.to_thread(fresh_server.add_machine, "Press9")
        await got.wait_for(lambda g: any(s.machine.cell == "Press9" for s in g))
        await write(fresh_server, ("Press9", "Temperature", 55.0))
        key = "factory/Plant/Bending/Line1/Press9/Monitoring/Temperature"
        await got.wait_for(lambda g: 55.0 in g.values(key))
        assert 55.0 in got.values(key)
        with_press9 = source.stats()["monitored_items"]

        await asyncio.to_thread(fresh_server.remove_machine, "Press9")
        await got.wait_for(lambda _: source.stats()["machines"] == 3)
        assert sorted(m.name for m in source.machines.values()) == ["Laser1", "Press1", "Robot1"]
        assert source.stats()["monitored_items"] < with_press9
        # The others keep flowing.
        await write(fresh_server, ("Press1", "Temperature", 44.0))
        await got.wait_for(lambda g: 44.0 in g.values(TEMPERATURE_KEY))
        assert 44.0 in got.values(TEMPERATURE_KEY)


@pytest.mark.filterwarnings("ignore:coroutine '.*datachange_callback' was never awaited")
async def test_variables_added_to_a_machine_at_runtime(fresh_server: MachineryServer) -> None:
    key = "factory/Plant/Bending/Line1/Laser1/Monitoring/NozzleWear"
    async with running_source(fresh_server) as (source, got):
        before = source.stats()["monitored_items"]
        await asyncio.to_thread(fresh_server.add_variable, "Laser1", "NozzleWear", 0.1)
        await got.wait_for(lambda g: 0.1 in g.values(key))
        await write(fresh_server, ("Laser1", "NozzleWear", 0.2))
        await got.wait_for(lambda g: 0.2 in g.values(key))
        assert got.values(key) == [0.1, 0.2]
        assert source.stats()["monitored_items"] == before + 1

        await asyncio.to_thread(fresh_server.remove_variable, "Laser1", "NozzleWear")
        await got.wait_for(lambda _: source.stats()["monitored_items"] == before)
        assert source.stats()["monitored_items"] == before
        assert source.stats()["machines"] == 3


async def test_gap_while_the_bridge_was_down_is_backfilled_without_repeats(
    fresh_server: MachineryServer,
) -> None:
    first = LastSeen()
    async with running_source(fresh_server, first) as (_, before):
        await write(fresh_server, ("Press1", "Temperature", 1.0))
        await asyncio.to_thread(fresh_server.fire_alarm, "Press1", "Door open", 300)
        await before.wait_for(lambda g: 1.0 in g.values(TEMPERATURE_KEY))
        await before.wait_for(lambda g: any(isinstance(i, EventSample) for i in g))
    saved = first.changes()  # what the journal keeps with the items

    # The bridge is down: these changes and this alarm reach only the server's history.
    missed = [float(v) for v in range(2, 7)]
    await write(fresh_server, *[("Press1", "Temperature", v) for v in missed])
    await asyncio.to_thread(fresh_server.fire_alarm, "Press1", "Overheating", 900)
    await asyncio.sleep(0.1)  # the server's historian samples every 10 ms

    async with running_source(fresh_server, LastSeen(saved)) as (source, after):
        await write(fresh_server, ("Press1", "Temperature", 7.0))
        await after.wait_for(lambda g: 7.0 in g.values(TEMPERATURE_KEY))
        await after.wait_for(lambda g: any(isinstance(i, EventSample) for i in g))
    assert before.values(TEMPERATURE_KEY)[-1] == 1.0
    assert after.values(TEMPERATURE_KEY) == [*missed, 7.0]  # nothing repeated, nothing lost
    assert source.stats()["backfilled"] >= len(missed) + 1
    events = [i for i in after if isinstance(i, EventSample)]
    assert [(e.machine.cell, e.message) for e in events] == [("Press1", "Overheating")]
    # Variables that did not change are not repeated either.
    assert after.values("factory/Plant/Bending/Line1/Press1/identification/SerialNumber") == []


async def test_server_restart_reconnects_and_loses_nothing(fresh_server: MachineryServer) -> None:
    # A long publishing interval leaves the last changes in the server's queue when it stops:
    # only history can bring them back.
    async with running_source(
        fresh_server, publishing_interval=2000.0, reconnect_max_delay=1.0
    ) as (source, got):
        await got.wait_for(lambda g: 20.0 in g.values(TEMPERATURE_KEY))
        in_flight = [float(v) for v in range(100, 105)]
        await write(fresh_server, *[("Press1", "Temperature", v) for v in in_flight])
        await asyncio.sleep(0.1)  # historized, not yet published
        await asyncio.to_thread(fresh_server.restart)
        await got.wait_for(lambda _: source.stats()["reconnects"] >= 1)
        await asyncio.wait_for(source.connected.wait(), 30)
        await write(fresh_server, ("Press1", "Temperature", 200.0))
        await got.wait_for(lambda g: 200.0 in g.values(TEMPERATURE_KEY))
    values = got.values(TEMPERATURE_KEY)
    # initial value, the in-flight ones (backfilled), the restarted server's initial value, new.
    assert values == [20.0, *in_flight, 20.0, 200.0]
    assert source.stats()["backfilled"] >= len(in_flight)
    times = [s.source_time for s in got if isinstance(s, Sample) and s.key == TEMPERATURE_KEY]
    assert times == sorted(times)


def test_values_become_json() -> None:
    assert json_value(ua.LocalizedText("Executing", "en")) == "Executing"
    assert json_value(ua.NodeId(5, 2)) == "ns=2;i=5"
    assert json_value([ua.LocalizedText("a"), 2]) == ["a", 2]
    assert json_value(ua.Range(Low=0.0, High=5.0)) == {"Low": 0.0, "High": 5.0}
    assert json_value(b"\x01\xff") == "01ff"


@pytest.mark.parametrize("saved", ["not a pair", ["not a time", 1], [1, 2, 3], None])
def test_an_unreadable_last_value_is_ignored(saved: object) -> None:
    last = LastSeen({"k": saved, "good": ["2026-06-01T00:00:00+00:00", 5]})
    assert list(last.times) == ["good"] and last.values == {"good": 5}


def test_last_seen_tells_repeats_from_changes_at_the_same_instant(tmp_path: Path) -> None:
    t1, t2 = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC)
    last = LastSeen()
    assert last.is_new("k", t1, "idle")
    assert last.is_new("k", t1, "setup")  # a second change at the same simulated instant
    assert not last.is_new("k", t1, "setup")  # the same change again: a repeat
    # An older timestamp is still news: some servers stamp placeholders with the wall clock.
    assert last.is_new("k", t1 - timedelta(seconds=1), "placeholder replaced")
    assert last.is_new("k", t1, "setup")
    assert last.is_new("k", None, "no timestamp")
    # History read from t1 on: everything up to the last value delivered at t1 was handed on.
    history = [(t1, "idle"), (t1, "setup"), (t1, "run"), (t2, "stop")]
    assert last.unseen("k", history) == 2
    assert last.unseen("other", history) == 0
    with Journal(tmp_path / "j") as journal:  # kept with the items, as JSON
        journal.append([], marks=last.changes())
    with Journal(tmp_path / "j") as journal:
        again = LastSeen(journal.marks())
    assert (again.times["k"], again.values["k"]) == (t1, "setup")
    assert last.changes() == {}  # nothing changed since


@pytest.mark.parametrize(("tag", "historized"), [("Temperature", True),
                                                 ("SpindleSpeed", False)])
async def test_values_a_server_dropped_from_a_full_queue_are_read_from_history(
    machinery_server: MachineryServer, tag: str, historized: bool
) -> None:
    key = TEMPERATURE_KEY.replace("Temperature", tag)
    async with running_source(machinery_server) as (source, got):
        await got.wait_for(lambda g: len(g.values(key)) == 1)
        initial = got.values(key)
        # asyncua's server discards from a full queue without the Overflow bit (the next test),
        # so this test does what a server following OPC 10000-4 does: it drops the values 2.0
        # and 3.0 and sets the Overflow bit on the next one.
        receive = source.subscriptions._on_data

        def overflowing(notifications: list) -> None:
            kept = []
            for notification in notifications:
                item = source.subscriptions.variables.get(notification.ClientHandle)
                value = notification.Value.Value.Value
                if item is not None and item.key == key and value in (2.0, 3.0):
                    continue
                if item is not None and item.key == key and value == 4.0:
                    notification.Value.StatusCode = ua.StatusCode(OVERFLOW_BITS)
                kept.append(notification)
            receive(kept)

        source.subscriptions._on_data = overflowing
        await write(machinery_server, *[("Press1", tag, float(v)) for v in range(2, 6)])
        await got.wait_for(lambda g: 5.0 in g.values(key))
        await write(machinery_server, ("Press1", tag, 6.0))  # and live values flow on
        await got.wait_for(lambda g: 6.0 in g.values(key))
    recovered = [2.0, 3.0] if historized else []
    assert got.values(key) == [*initial, *recovered, 4.0, 5.0, 6.0]
    assert source.stats()["overflows"] == 1
    # what cannot be recovered is a gap record right before the value after it
    gaps = [i for i in got if isinstance(i, Gap)]
    if historized:
        assert gaps == []
    else:
        after = next(s for s in got if isinstance(s, Sample) and s.value == 4.0 and s.key == key)
        assert [(g.key, g.end) for g in gaps] == [(key, after.source_time)]
        assert got.index(gaps[0]) == got.index(after) - 1 and source.stats()["gaps"] == 1
    assert source.stats()["overflows_lost"] == (0 if historized else 1)


async def test_a_burst_beyond_the_queue_size_is_read_from_history_though_no_overflow_bit_says_so(
    machinery_server: MachineryServer,
) -> None:
    """A burst of 100 changes per variable between two publishes, queue size 10: asyncua's
    server discards the oldest 90 of each without the Overflow bit. A full queue counts as
    an overflow: the historized Temperature's 100 values all arrive, in order; what the not
    historized SpindleSpeed lost is a gap record before its first value after the burst."""
    spindle_key = TEMPERATURE_KEY.replace("Temperature", "SpindleSpeed")
    temperature = [float(v) for v in range(100, 200)]
    spindle = [float(v) for v in range(1000, 1100)]
    async with running_source(machinery_server, queue_size=10) as (source, got):
        await got.wait_for(lambda g: g.values(TEMPERATURE_KEY) and g.values(spindle_key))
        initial = got.values(TEMPERATURE_KEY)
        await write(machinery_server, *[("Press1", name, value) for pair in zip(
            temperature, spindle, strict=True) for name, value in zip(
            ("Temperature", "SpindleSpeed"), pair, strict=True)])
        await got.wait_for(lambda g: temperature[-1] in g.values(TEMPERATURE_KEY)
                           and spindle[-1] in g.values(spindle_key))
    assert got.values(TEMPERATURE_KEY) == [*initial, *temperature]
    assert not [i for i in got if isinstance(i, Gap) and i.key == TEMPERATURE_KEY]
    (gap,) = [i for i in got if isinstance(i, Gap) and i.key == spindle_key]
    after = got[got.index(gap) + 1:]
    received = [s.value for s in after if isinstance(s, Sample) and s.key == spindle_key]
    assert received == spindle[-len(received):] and len(received) < len(spindle)
    assert source.stats()["overflows"] == 2 and source.stats()["overflows_lost"] == 1
