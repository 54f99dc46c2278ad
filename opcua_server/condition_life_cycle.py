"""The rest of a condition's life (OPC 10000-9): Confirm, AddComment, Enable/Disable and
shelving, for the conditions of an `opcua_server.alarms.AlarmManager`.

- Confirm(EventId, Comment): ConfirmedState becomes true (it turns false with each new
  activation). Confirming records that the fix was checked; it does not hold a cleared,
  acknowledged alarm in Retain.
- AddComment(EventId, Comment): the comment, with the user who made it (ClientUserId).
- Disable() / Enable(): a disabled condition reports one last event (Retain false), then none
  and leaves ConditionRefresh until enabled again, when it reports its current state. Only an
  engineer may disable or enable (a plant setting); the other methods need an operator.
- ShelvingState: OneShotShelve() until the alarm next turns inactive, TimedShelve(ShelvingTime
  in ms, at most `MAX_TIME_SHELVED_MS`) until that much plant time has passed, Unshelve().
  A shelved condition still reports its events, with SuppressedOrShelved true, so that a
  client decides what to show; UnshelveTime is the plant time left, in ms.

Branches are not kept: a condition has one state (BranchId is null), which Part 9 allows
(5.5.2: "Branching is optional"); a client confirms or acknowledges its latest event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from asyncua import ua
from asyncua.common.instantiate_util import instantiate

from opcua_server.asyncua_adapter.hardening import current_session
from opcua_server.methods import Arg, check_arguments

if TYPE_CHECKING:
    from opcua_server.alarms import AlarmManager, ConditionState

IDS = ua.ObjectIds
UNSHELVED, TIMED, ONE_SHOT = "Unshelved", "TimedShelved", "OneShotShelved"
SHELVING_STATE_IDS = {UNSHELVED: IDS.ShelvedStateMachineType_Unshelved,
                      TIMED: IDS.ShelvedStateMachineType_TimedShelved,
                      ONE_SHOT: IDS.ShelvedStateMachineType_OneShotShelved}
MAX_TIME_SHELVED_MS = 8 * 3600 * 1000.0  # one shift of plant time
_COMMENT_ARGS = [Arg("EventId", ua.VariantType.ByteString, "the event it is about"),
                 Arg("Comment", ua.VariantType.LocalizedText, "the text")]
_SHELVE_ARGS = [Arg("ShelvingTime", ua.VariantType.Double, "milliseconds of plant time")]
S = ua.StatusCodes


def _status(code: int) -> ua.StatusCode:
    return ua.StatusCode(code)


def user_name() -> str:
    """The calling session's user name ("" for anonymous or the server's own calls)."""
    return _user()[0]


def _user() -> tuple[str, object]:
    """The calling session's user name and role (None: the server's own call or no security)."""
    session = current_session()
    user = getattr(session, "user", None)
    return (getattr(user, "name", None) or "", getattr(user, "access", None))


class ConditionLifeCycle:
    """Binds the methods for one AlarmManager and acts on its conditions."""

    def __init__(self, manager: AlarmManager, clock: Callable[[], datetime]) -> None:
        self._manager = manager
        self._clock = clock
        self._shelved: set[ua.NodeId] = set()  # timed-shelved conditions, to expire
        self._methods = {
            "Confirm": (self._confirm, IDS.AcknowledgeableConditionType_Confirm),
            "AddComment": (self._add_comment, IDS.ConditionType_AddComment),
            "Enable": (self._enable, IDS.ConditionType_Enable),
            "Disable": (self._disable, IDS.ConditionType_Disable),
            "ShelvingState.OneShotShelve": (self._one_shot,
                                            IDS.ShelvedStateMachineType_OneShotShelve),
            "ShelvingState.TimedShelve": (self._timed, IDS.ShelvedStateMachineType_TimedShelve),
            "ShelvingState.Unshelve": (self._unshelve, IDS.ShelvedStateMachineType_Unshelve),
        }

    def bind(self, isession) -> None:
        """The type's methods: clients call them with the condition (or its ShelvingState)."""
        for handler, type_method in self._methods.values():
            isession.add_method_callback(ua.NodeId(type_method), handler)

    async def add_parts(self, server, condition, node_id: ua.NodeId) -> None:
        """The optional parts this life cycle needs, on one condition instance, and its own
        method nodes bound."""
        for name, type_id in (("ShelvingState", IDS.ShelvedStateMachineType),
                              ("ConfirmedState", IDS.TwoStateVariableType)):
            await instantiate(condition, server.get_node(ua.NodeId(type_id)),
                              nodeid=ua.NodeId(f"{node_id.Identifier}.{name}",
                                               node_id.NamespaceIndex),
                              bname=ua.QualifiedName(name, 0), instantiate_optional=False)
        isession = server.iserver.isession
        for suffix, (handler, _) in self._methods.items():
            instance = ua.NodeId(f"{node_id.Identifier}.{suffix}", node_id.NamespaceIndex)
            if instance in server.iserver.aspace:
                isession.add_method_callback(instance, handler)

    # ---- what the manager asks ----
    def on_activated(self, cond: ConditionState, when: datetime) -> None:
        if cond.confirmed:
            cond.confirmed, cond.confirmed_since = False, when

    def on_deactivated(self, cond: ConditionState, when: datetime) -> None:
        if cond.shelving == ONE_SHOT:
            self._set_shelving(cond, UNSHELVED, None, when)

    @staticmethod
    def unshelve_time_ms(cond: ConditionState, now: datetime) -> float:
        if cond.shelving == TIMED and cond.unshelve_at is not None:
            return max((cond.unshelve_at - now).total_seconds() * 1000.0, 0.0)
        return 0.0

    async def expire(self) -> None:
        """Unshelve the timed-shelved conditions whose time is up (call after each tick)."""
        if not self._shelved:
            return
        now = self._clock()
        for node_id in list(self._shelved):
            cond = self._manager.condition(node_id)
            if cond is not None and cond.unshelve_at is not None and cond.unshelve_at <= now:
                self._set_shelving(cond, UNSHELVED, None, now)
                await self._manager.fire(cond, now)

    # ---- methods ----
    def _condition(self, parent: ua.NodeId) -> ConditionState | None:
        text = str(parent.Identifier)
        if text.endswith(".ShelvingState"):
            parent = ua.NodeId(text.removesuffix(".ShelvingState"), parent.NamespaceIndex)
        return self._manager.condition(parent)

    def _refused(self, parent: ua.NodeId, args, arguments: list[Arg], engineer: bool = False):
        """(the condition, None) to act on, or (None, what the call returns instead): arguments
        not as declared, an unknown condition, a user not allowed."""
        refused = check_arguments(arguments, args)
        if refused is not None:
            return None, refused
        cond = self._condition(parent)
        if cond is None:
            return None, _status(S.BadNodeIdUnknown)
        _, access = _user()
        if access is not None and not (access.may_write if engineer else
                                       access.may_call_methods):
            return None, _status(S.BadUserAccessDenied)
        return cond, None

    async def _commented(self, parent, args, confirm: bool):
        cond, status = self._refused(parent, args, _COMMENT_ARGS)
        if status is not None:
            return status
        if args[0].Value != cond.event_id:
            return _status(S.BadEventIdUnknown)
        if confirm and cond.confirmed:
            return _status(S.BadConditionBranchAlreadyConfirmed)
        if not cond.enabled:
            return _status(S.BadConditionDisabled)
        now, (user, _) = self._clock(), _user()
        if confirm:
            cond.confirmed, cond.confirmed_since = True, now
        text = (args[1].Value.Text if args[1].Value else "") or ""
        if text or not confirm:
            cond.comment, cond.comment_time = text, now
        cond.client_user_id = user
        await self._manager.fire(cond, now)
        return []

    async def _confirm(self, parent: ua.NodeId, *args: ua.Variant):
        return await self._commented(parent, args, confirm=True)

    async def _add_comment(self, parent: ua.NodeId, *args: ua.Variant):
        return await self._commented(parent, args, confirm=False)

    async def _switch(self, parent, args, enabled: bool):
        cond, status = self._refused(parent, args, [], engineer=True)
        if status is not None:
            return status
        if cond.enabled == enabled:
            return _status(S.BadConditionAlreadyEnabled if enabled else
                           S.BadConditionAlreadyDisabled)
        now = self._clock()
        cond.enabled, cond.enabled_since = enabled, now
        await self._manager.fire(cond, now, always=True)
        return []

    async def _enable(self, parent: ua.NodeId, *args: ua.Variant):
        return await self._switch(parent, args, enabled=True)

    async def _disable(self, parent: ua.NodeId, *args: ua.Variant):
        return await self._switch(parent, args, enabled=False)

    async def _shelve(self, parent, args, state: str, arguments: list[Arg]):
        cond, status = self._refused(parent, args, arguments)
        if status is not None:
            return status
        if not cond.enabled:
            return _status(S.BadConditionDisabled)
        now, until = self._clock(), None
        if state == UNSHELVED and cond.shelving == UNSHELVED:
            return _status(S.BadConditionNotShelved)
        if state != UNSHELVED and cond.shelving == state:
            return _status(S.BadConditionAlreadyShelved)
        if state == TIMED:
            shelving_ms = args[0].Value
            if not 0 < shelving_ms <= MAX_TIME_SHELVED_MS:
                return _status(S.BadShelvingTimeOutOfRange)
            until = now + timedelta(milliseconds=shelving_ms)
        self._set_shelving(cond, state, until, now)
        await self._manager.fire(cond, now)
        return []

    async def _one_shot(self, parent: ua.NodeId, *args: ua.Variant):
        return await self._shelve(parent, args, ONE_SHOT, [])

    async def _timed(self, parent: ua.NodeId, *args: ua.Variant):
        return await self._shelve(parent, args, TIMED, _SHELVE_ARGS)

    async def _unshelve(self, parent: ua.NodeId, *args: ua.Variant):
        return await self._shelve(parent, args, UNSHELVED, [])

    def _set_shelving(self, cond: ConditionState, state: str, until: datetime | None,
                      now: datetime) -> None:
        cond.shelving, cond.unshelve_at, cond.shelving_since = state, until, now
        if state == TIMED:
            self._shelved.add(cond.node_id)
        else:
            self._shelved.discard(cond.node_id)
