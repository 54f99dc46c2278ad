"""Historical access: HistoryRead of values written through the server's fast path and of alarms.

Runs against both backends, each behind a real server on a free loopback port.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from asyncua import Client, Server, ua

from opcua_server import history
from opcua_server.alarms import AlarmManager
from tests.opcua.conftest import bare_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["memory", "sqlite"])
async def plant(request, tmp_path_factory):
    server, url = await bare_server()
    db = tmp_path_factory.mktemp("history") / "history.sqlite"
    await history.enable(
        server,
        history.HistorySettings(
            retention=timedelta(hours=1), max_values_per_node=100, backend=request.param, path=db
        ),
    )
    idx = await server.register_namespace("urn:factory-sim:test-history")
    press = await server.nodes.objects.add_object(idx, "PressBrake1")
    speed = await press.add_variable(idx, "StrokeRate", 0.0)
    # Its initial value carries a wall-clock timestamp; later writes carry plant time.
    power = await press.add_variable(idx, "Power", 0.0)
    await history.historize_variables(server, [speed, power])
    alarms = AlarmManager(server)
    await alarms.init()
    await alarms.add_source(press)
    await history.historize_events(server, [press])
    await server.start()
    yield server, url, press, speed, power, alarms
    await server.stop()


async def _write(server: Server, node, value: float, when: datetime) -> None:
    await server.write_attribute_value(
        node.nodeid, ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=when)
    )


async def _eventually(read, done):
    """History is recorded asynchronously (one batch per publishing cycle): wait for it."""
    for _ in range(100):
        result = await read()
        if done(result):
            return result
        await asyncio.sleep(0.05)
    return result


async def test_raw_history_returns_written_values_with_source_timestamps(plant):
    server, url, _, speed, _, _ = plant
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=10)
    written = [(base + timedelta(seconds=i), float(10 * i)) for i in range(1, 6)]
    for when, value in written:
        await _write(server, speed, value, when)
    await _write(server, speed, 50.0, base + timedelta(seconds=6))  # same value, new time

    async with Client(url, timeout=10) as client:
        node = client.get_node(speed.nodeid)
        values = await _eventually(
            lambda: node.read_raw_history(base, base + timedelta(seconds=60), return_bounds=False),
            lambda values: len(values) >= 6,
        )
        assert [(dv.SourceTimestamp, dv.Value.Value) for dv in values] == [
            *written,
            (base + timedelta(seconds=6), 50.0),
        ]
        window = await node.read_raw_history(
            base + timedelta(seconds=2), base + timedelta(seconds=4), return_bounds=False
        )
        assert [dv.Value.Value for dv in window] == [20.0, 30.0, 40.0]
        access = await node.read_attribute(ua.AttributeIds.AccessLevel)
        assert access.Value.Value & ua.AccessLevel.HistoryRead.mask
        assert (await node.read_attribute(ua.AttributeIds.Historizing)).Value.Value is True


async def test_retention_counts_in_plant_time(plant):
    """The simulator stamps values with plant time (the scenario's calendar), which may lie
    months before the wall clock: retention must count back from the newest value."""
    server, url, _, _, power, _ = plant
    shift_start = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    await _write(server, power, 1.0, shift_start)  # 3 h before the newest: beyond 1 h retention
    await _write(server, power, 2.0, shift_start + timedelta(hours=2, minutes=30))
    await _write(server, power, 3.0, shift_start + timedelta(hours=3))
    async with Client(url, timeout=10) as client:
        node = client.get_node(power.nodeid)
        start, end = shift_start - timedelta(days=1), shift_start + timedelta(days=1)
        values = await _eventually(
            lambda: node.read_raw_history(start, end, return_bounds=False),
            lambda values: 3.0 in [dv.Value.Value for dv in values],
        )
        # Neither the value beyond retention nor the never-written initial value is kept.
        assert [dv.Value.Value for dv in values] == [2.0, 3.0]


async def test_event_history_returns_the_alarm_events(plant):
    _, url, press, _, _, alarms = plant
    start = datetime.now(UTC) - timedelta(seconds=1)
    raised_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
    await alarms.raise_alarm(press, "pb1-failure-h", "failure", 800, "Ram jammed", raised_at)
    await alarms.clear("pb1-failure-h", raised_at + timedelta(seconds=5))
    async with Client(url, timeout=10) as client:
        node = client.get_node(press.nodeid)
        end = raised_at + timedelta(minutes=1)
        events = await _eventually(
            lambda: node.read_event_history(start, end, evtypes=ua.ObjectIds.AlarmConditionType),
            lambda events: len(events) >= 2,
        )
        assert [(e.Message.Text, getattr(e, "ActiveState/Id"), e.Severity) for e in events] == [
            ("Ram jammed", True, 800),
            ("Failure on PressBrake1 cleared", False, 800),
        ]
        assert events[0].Time == raised_at


async def test_bad_settings_are_refused(tmp_path):
    server = Server()
    with pytest.raises(history.HistoryConfigError, match="needs a path"):
        await history.enable(server, history.HistorySettings(backend="sqlite"))
    with pytest.raises(history.HistoryConfigError, match="'postgres' is not"):
        await history.enable(server, history.HistorySettings(backend="postgres"))
    with pytest.raises(history.HistoryConfigError, match="retention must be positive"):
        await history.enable(server, history.HistorySettings(retention=timedelta(0)))
    with pytest.raises(history.HistoryConfigError, match="enable"):
        await history.historize_variables(server, [])
