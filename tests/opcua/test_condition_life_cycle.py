"""A condition's whole life over TCP with asyncua (issue 24, item 5): every field set before
the first event, Confirm, AddComment, Disable/Enable, OneShotShelve, TimedShelve (on the
manager's clock) and Unshelve, with their refusals; roles per method on a secured plant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from asyncua import Client, ua

from opcua_server.alarms import AlarmManager
from opcua_server.condition_life_cycle import MAX_TIME_SHELVED_MS
from tests.opcua.conftest import bare_server, event_filter

pytestmark = pytest.mark.asyncio(loop_scope="module")

IDS, V = ua.ObjectIds, ua.VariantType
ACKNOWLEDGE = ua.NodeId(IDS.AcknowledgeableConditionType_Acknowledge)
CONFIRM = ua.NodeId(IDS.AcknowledgeableConditionType_Confirm)
ADD_COMMENT = ua.NodeId(IDS.ConditionType_AddComment)
ENABLE, DISABLE = ua.NodeId(IDS.ConditionType_Enable), ua.NodeId(IDS.ConditionType_Disable)
FIELDS = ("EventId", "ConditionName", "Message", "Severity", "Retain", "Comment", "ClientUserId",
          "ActiveState/Id", "AckedState/Id", "ConfirmedState/Id", "EnabledState/Id",
          "SuppressedOrShelved", "ShelvingState/CurrentState", "ShelvingState/UnshelveTime")
START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Events:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def event_notification(self, event) -> None:
        self.queue.put_nowait(event.get_event_props_as_fields_dict())

    async def next(self) -> dict:
        fields = await asyncio.wait_for(self.queue.get(), timeout=10)
        return {name: variant.Value for name, variant in fields.items()}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def plant():
    server, url = await bare_server()
    idx = await server.register_namespace("urn:factory-sim:test-life-cycle")
    press = await server.nodes.objects.add_object(ua.NodeId("press", idx), f"{idx}:press")
    clock = Clock()
    alarms = AlarmManager(server, clock=clock)
    await alarms.init()
    condition = await alarms.prepare(press, "failure")
    await server.start()
    async with Client(url, timeout=10) as client:
        events = Events()
        subscription = await client.create_subscription(20, events)
        await subscription.subscribe_events(client.nodes.server, evfilter=event_filter(FIELDS))
        yield client, alarms, press, condition, clock, events
    await server.stop()


def child(condition: ua.NodeId, path: str) -> ua.NodeId:
    return ua.NodeId(f"{condition.Identifier}.{path}", condition.NamespaceIndex)


async def call(client, obj: ua.NodeId, method: ua.NodeId, *args: ua.Variant) -> int:
    request = ua.CallMethodRequest(ObjectId=obj, MethodId=method, InputArguments=list(args))
    return (await client.uaclient.call([request]))[0].StatusCode.value


def commented(event_id: bytes, text: str) -> tuple[ua.Variant, ua.Variant]:
    return ua.Variant(event_id, V.ByteString), ua.Variant(ua.LocalizedText(text),
                                                          V.LocalizedText)


async def test_every_field_has_its_value_before_the_first_event(plant):
    client, _, _, condition, _, _ = plant
    values = {path: await client.get_node(child(condition, path)).read_value() for path in (
        "EventId", "Message", "Severity", "LastSeverity", "ActiveState", "ActiveState.Id",
        "AckedState.Id", "ConfirmedState.Id", "EnabledState.Id", "Retain", "Time",
        "SuppressedOrShelved", "ShelvingState.CurrentState", "ShelvingState.UnshelveTime")}
    assert not [path for path, value in values.items() if value is None]
    assert values["EventId"] and values["ActiveState"].Text == "Inactive"
    assert values["LastSeverity"] == values["Severity"]
    assert (values["ActiveState.Id"], values["AckedState.Id"], values["ConfirmedState.Id"],
            values["EnabledState.Id"], values["Retain"]) == (False, True, True, True, False)
    assert values["ShelvingState.CurrentState"].Text == "Unshelved"


async def test_confirm_and_add_comment(plant):
    client, alarms, press, condition, _, events = plant
    await alarms.raise_alarm(press, "f-1", "failure", 700, "Hydraulics", START)
    raised = await events.next()
    assert (raised["ActiveState/Id"], raised["AckedState/Id"], raised["ConfirmedState/Id"]) \
        == (True, False, False)
    assert await call(client, condition, CONFIRM, *commented(b"nope", "x")) == \
        ua.StatusCodes.BadEventIdUnknown
    assert await call(client, condition, ACKNOWLEDGE, *commented(raised["EventId"], "seen")) \
        == ua.StatusCodes.Good
    acked = await events.next()
    assert await call(client, condition, CONFIRM, *commented(acked["EventId"], "pump fixed")) \
        == ua.StatusCodes.Good
    confirmed = await events.next()
    assert (confirmed["ConfirmedState/Id"], confirmed["Comment"].Text) == (True, "pump fixed")
    assert await call(client, condition, CONFIRM, *commented(confirmed["EventId"], "")) == \
        ua.StatusCodes.BadConditionBranchAlreadyConfirmed
    assert await call(client, condition, child(condition, "AddComment"),  # the instance's own
                      *commented(confirmed["EventId"], "seal ordered")) == ua.StatusCodes.Good
    assert (await events.next())["Comment"].Text == "seal ordered"
    await alarms.clear("f-1", START)
    assert (await events.next())["Retain"] is False


async def test_a_disabled_condition_is_silent_until_enabled(plant):
    client, alarms, press, condition, _, events = plant
    assert await call(client, condition, ENABLE) == ua.StatusCodes.BadConditionAlreadyEnabled
    assert await call(client, condition, DISABLE) == ua.StatusCodes.Good
    disabled = await events.next()
    assert (disabled["EnabledState/Id"], disabled["Retain"]) == (False, False)
    await alarms.raise_alarm(press, "f-2", "failure", 800, "Overload", START)  # no event
    assert alarms.retained == []  # nor for ConditionRefresh
    current = await client.get_node(child(condition, "EventId")).read_value()
    assert await call(client, condition, ACKNOWLEDGE, *commented(current, "")) == \
        ua.StatusCodes.BadConditionDisabled
    assert await call(client, condition, ENABLE) == ua.StatusCodes.Good
    enabled = await events.next()  # the next event is the Enable: nothing came in between
    assert (enabled["EnabledState/Id"], enabled["ActiveState/Id"], enabled["Retain"]) == \
        (True, True, True)
    assert enabled["Message"].Text == "Overload"
    await alarms.clear("f-2", START)
    cleared = await events.next()
    await call(client, condition, ACKNOWLEDGE, *commented(cleared["EventId"], ""))
    assert (await events.next())["Retain"] is False


async def test_shelving_one_shot_timed_and_unshelve(plant):
    client, alarms, press, condition, clock, events = plant
    shelving = child(condition, "ShelvingState")
    one_shot = ua.NodeId(IDS.ShelvedStateMachineType_OneShotShelve)
    timed = child(condition, "ShelvingState.TimedShelve")
    unshelve = ua.NodeId(IDS.ShelvedStateMachineType_Unshelve)
    assert await call(client, shelving, unshelve) == ua.StatusCodes.BadConditionNotShelved
    await alarms.raise_alarm(press, "f-3", "failure", 600, "Jam", clock.now)
    await events.next()
    assert await call(client, shelving, one_shot) == ua.StatusCodes.Good
    shelved = await events.next()
    assert (shelved["SuppressedOrShelved"], shelved["ShelvingState/CurrentState"].Text) == \
        (True, "OneShotShelved")
    assert await call(client, shelving, one_shot) == ua.StatusCodes.BadConditionAlreadyShelved
    await alarms.clear("f-3", clock.now)  # a one-shot shelve ends when the alarm does
    cleared = await events.next()
    assert (cleared["SuppressedOrShelved"], cleared["ShelvingState/CurrentState"].Text) == \
        (False, "Unshelved")

    for bad in (0.0, MAX_TIME_SHELVED_MS + 1):
        assert await call(client, shelving, timed, ua.Variant(bad, V.Double)) == \
            ua.StatusCodes.BadShelvingTimeOutOfRange
    assert await call(client, shelving, timed, ua.Variant(60_000.0, V.Double)) == \
        ua.StatusCodes.Good
    shelved = await events.next()
    assert (shelved["ShelvingState/CurrentState"].Text,
            shelved["ShelvingState/UnshelveTime"]) == ("TimedShelved", 60_000.0)
    clock.now += timedelta(seconds=59)
    await alarms.life_cycle.expire()
    assert await client.get_node(child(condition, "ShelvingState.CurrentState")).read_value() \
        == ua.LocalizedText("TimedShelved")
    clock.now += timedelta(seconds=1)  # the plant's clock, not the wall's
    await alarms.life_cycle.expire()
    expired = await events.next()
    assert (expired["ShelvingState/CurrentState"].Text, expired["SuppressedOrShelved"]) == \
        ("Unshelved", False)

    assert await call(client, shelving, timed, ua.Variant(1000.0, V.Double)) == \
        ua.StatusCodes.Good
    await events.next()
    assert await call(client, shelving, unshelve) == ua.StatusCodes.Good
    unshelved = await events.next()
    assert unshelved["ShelvingState/CurrentState"].Text == "Unshelved"
    assert await call(client, condition, ACKNOWLEDGE, *commented(unshelved["EventId"], "")) \
        == ua.StatusCodes.Good
    assert (await events.next())["Retain"] is False


async def test_roles_per_method_on_a_secured_plant(tmp_path):
    from opcua_server.security import SecuritySettings
    from opcua_server.users import Role, add_user
    from tests.opcua.conftest import make_plant, start_plant_server

    users = tmp_path / "users.yaml"
    for name, role in (("vera", Role.VIEWER), ("otto", Role.OPERATOR), ("erin", Role.ENGINEER)):
        add_user(users, name, role, f"{name}-password-123")
    server = await start_plant_server(make_plant(), security=SecuritySettings(
        state_dir=tmp_path / "state", users_file=users, accept_any_client_certificate=True))
    condition = ua.NodeId("press-brake/Failure", server.ns.plant)

    async def as_user(name: str, method: ua.NodeId, *args: ua.Variant) -> int:
        client = Client(server.endpoint, timeout=10)
        client.set_user(name)
        client.set_password(f"{name}-password-123")
        async with client:
            event_id = await client.get_node(child(condition, "EventId")).read_value()
            arguments = commented(event_id, "note") if method == ADD_COMMENT else args
            try:
                return await call(client, condition, method, *arguments)
            except ua.uaerrors.UaStatusCodeError as exc:  # refused for the whole request
                return exc.code

    try:
        assert await as_user("vera", ADD_COMMENT) == ua.StatusCodes.BadUserAccessDenied
        assert await as_user("otto", ADD_COMMENT) == ua.StatusCodes.Good
        assert await as_user("otto", DISABLE) == ua.StatusCodes.BadUserAccessDenied
        assert await as_user("erin", DISABLE) == ua.StatusCodes.Good
        assert await as_user("erin", ENABLE) == ua.StatusCodes.Good
    finally:
        await server.stop()
