"""The unified namespace's messages as the dashboard accepts them: each one validated on its own.

Anyone who can publish to the broker can write to these topics, so every payload is read as
hostile: bounded in size, parsed by pydantic's JSON parser (which bounds the nesting depth),
and checked against the models below, which allow only what the page needs: scalars of the
type each tag has, RFC 3339 timestamps with a time zone, bounded texts, an OPC UA severity.
A message that fails raises `RejectedMessage` with a one-line reason; a topic the dashboard
does not show is not parsed at all.

    >>> power = ["e", "s", "a", "l", "press-brake", "Monitoring", "Power"]
    >>> parse(power, b'{"value": 3.5, "sourceTimestamp": "2026-01-05T06:00:00Z"}').value
    3.5
    >>> parse(power, b'{"value": 3.5, "sourceTimestamp": "yesterday"}')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dashboard.uns_messages.RejectedMessage: sourceTimestamp: ... got 'yesterday'
    >>> parse(power, b'{"value": "abc"}').checked(float)  # the tag's type, when applied
    Traceback (most recent call last):
    ...
    dashboard.uns_messages.RejectedMessage: value: a finite number expected, got 'abc'
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

MAX_PAYLOAD_BYTES = 512 * 1024  # the bridge's largest batch is ~100 kB (500 updates)
MAX_TEXT = 200  # a state, an order id, a condition name
MAX_MESSAGE = 1000  # an alarm's message
MAX_BATCH = 1000  # updates in one machine-mode message (the bridge sends at most 500)
MAX_LISTED = 1000  # job orders in one cell's JobOrderList (the simulator's hold at most ~50)
NON_FINITE = ("NaN", "Infinity", "-Infinity")  # how the bridge writes non-finite floats

# UNS group/tag -> CellView.live key, and whether the value is a number or a text
# (README section `bridge`: group and tag names).
UNS_TAGS: dict[tuple[str, str], tuple[str, type]] = {
    ("state", "CurrentState"): ("state", str),
    ("mode", "CurrentState"): ("mode", str),
    ("Monitoring", "Activity"): ("activity", str),
    ("Monitoring", "GoodParts"): ("good", float),
    ("Monitoring", "ScrapParts"): ("scrap", float),
    ("Monitoring", "Power"): ("power", float),
    ("CurrentOrder", "OrderId"): ("order", str),
    ("Kpi", "OEE"): ("oee", float),
    ("Kpi", "Availability"): ("availability", float),
    ("Kpi", "Performance"): ("performance", float),
    ("Kpi", "Quality"): ("quality", float),
}
# The plant's own KPIs, bridged from Objects/Plant/Kpi by the bridge's [[nodes]] sample
# (docs/integrators/bridge-nodes.md): `.../plant/kpi/<name>`, a fraction 0..1.
PLANT_CELL, PLANT_KPI_GROUP = "plant", "kpi"
PLANT_KPIS = ("OEE", "Availability", "Performance", "Quality")
# A cell's job orders as OPC 40001-3 lists them (group, tag): the queue's start
JOB_ORDER_LIST = ("JobManagement.JobOrderControl", "JobOrderList")


class RejectedMessage(ValueError):
    """A payload the dashboard does not accept; the message says why, in one line."""


def _aware_time(value: Any) -> datetime | None:
    """RFC 3339 text with a time zone, nothing else (no epoch numbers, no naive times)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"an RFC 3339 timestamp text expected, got {_show(value)}")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"an RFC 3339 timestamp expected, got {_show(value)}") from None
    if when.tzinfo is None:
        raise ValueError(f"a timestamp with a time zone expected, got {_show(value)}")
    return when


AwareTime = Annotated[datetime | None, BeforeValidator(_aware_time)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]


class TagValue(BaseModel):
    """One value of a tag (tag mode), or one update of a batch (machine mode)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    value: bool | int | float | Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    sourceTimestamp: AwareTime = None
    serverTimestamp: AwareTime = None
    gap: dict[str, Any] | None = None  # a gap record: lost changes, no value to show

    def checked(self, kind: type) -> Any:
        """The value as a tag of this kind has it: a finite number or None; a text or None."""
        value = self.value
        if kind is float:
            if value is None or (isinstance(value, str) and value in NON_FINITE):
                return None
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                raise RejectedMessage(f"value: a finite number expected, got {_show(value)}")
            return value
        if value is not None and not isinstance(value, str):
            raise RejectedMessage(f"value: a text expected, got {_show(value)}")
        return value


class AlarmFields(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
    ConditionId: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    ConditionName: Text = ""
    EventId: Annotated[str, Field(max_length=128, pattern=r"^(?:[0-9a-fA-F]{2})*$")] = ""
    ActiveState: bool = False
    AckedState: bool = False
    Retain: bool = True


class AlarmEvent(BaseModel):
    """An alarm's event as the bridge publishes it on `.../{cell}/alarms`."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    fields: AlarmFields
    message: Annotated[str, Field(max_length=MAX_MESSAGE, strict=True)] = ""
    severity: Annotated[int, Field(ge=0, le=1000, strict=True)] = 0  # OPC UA: 1..1000
    time: AwareTime = None


_Count = Annotated[int, Field(ge=0, le=10**9, strict=True)] | None


class JobFields(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    JobOrderID: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, strict=True)]
    State: Annotated[str, Field(max_length=40, strict=True)] | None = None
    StateNumber: Annotated[int, Field(ge=1, le=6, strict=True)] | None = None
    MaterialDefinitionID: Annotated[str, Field(max_length=MAX_TEXT, strict=True)] | None = None
    RunsPlanned: _Count = None
    RunsCompleted: _Count = None
    ScrapCount: _Count = None


class JobEvent(BaseModel):
    """A job order status change as the bridge publishes it on `.../{cell}/jobs` (or a gap
    record there: job order changes lost, nothing to show)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    fields: JobFields | None = None
    time: AwareTime = None  # plant time of the change
    gap: dict[str, Any] | None = None


class _Ignored(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _LocalizedText(_Ignored):
    Text: Annotated[str, Field(max_length=MAX_TEXT, strict=True)] | None = None


class _JobOrderState(_Ignored):
    StateText: Annotated[str, Field(max_length=MAX_TEXT, strict=True)] | _LocalizedText | None \
        = None
    StateNumber: Annotated[int, Field(ge=1, le=6, strict=True)]


class _Parameter(_Ignored):
    ID: Annotated[str, Field(max_length=MAX_TEXT, strict=True)]
    Value: Any = None  # a Variant as the bridge decodes it: {"Value": ..., "VariantType": ...}


class _Material(_Ignored):
    MaterialDefinitionID: Annotated[str, Field(max_length=MAX_TEXT, strict=True)] | None = None


class _JobOrder(_Ignored):
    JobOrderID: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, strict=True)]
    JobOrderParameters: Annotated[list[_Parameter], Field(max_length=100)] | None = None
    MaterialRequirements: Annotated[list[_Material], Field(max_length=100)] | None = None


class JobOrderAndState(_Ignored):
    """One entry of a JobOrderList (ISA95JobOrderAndStateDataType, as the bridge decodes it)."""

    JobOrder: _JobOrder
    State: Annotated[list[_JobOrderState], Field(min_length=1, max_length=10)]

    def brief(self) -> JobFields:
        """The fields a job status event carries, as far as the list tells them (no counts)."""
        order, state = self.JobOrder, self.State[0]
        text = state.StateText.Text if isinstance(state.StateText, _LocalizedText) \
            else state.StateText
        runs = next((p.Value for p in order.JobOrderParameters or [] if p.ID == "RunsPlanned"),
                    None)
        runs = runs.get("Value") if isinstance(runs, dict) else runs
        materials = order.MaterialRequirements or []
        return JobFields(
            JobOrderID=order.JobOrderID, State=(text or "?")[:40], StateNumber=state.StateNumber,
            MaterialDefinitionID=materials[0].MaterialDefinitionID if materials else None,
            RunsPlanned=runs if type(runs) is int and 0 <= runs <= 10**9 else None)


class JobOrderList(BaseModel):
    """A cell's `JobManagement.JobOrderControl/JobOrderList` value (OPC 40001-3), every job
    order the cell holds, as the bridge publishes it (retained in tag mode)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    value: Annotated[list[JobOrderAndState], Field(max_length=MAX_LISTED)] | None = None
    sourceTimestamp: AwareTime = None  # plant time of the newest change it holds
    gap: dict[str, Any] | None = None


class BridgeStatus(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    status: Annotated[str, Field(max_length=40, strict=True)] = "unknown"


class Batch(BaseModel):
    """A machine's updates in one message (the bridge's machine mode); each is checked alone."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    updates: Annotated[list[dict[str, Any]], Field(max_length=MAX_BATCH)]


Message = TagValue | AlarmEvent | JobEvent | JobOrderList | BridgeStatus | Batch


def model_for(path: list[str]) -> type[BaseModel] | None:
    """The model of a topic below a plant's prefix (its levels), None for topics not shown."""
    if len(path) == 7 and ((path[5], path[6]) in UNS_TAGS or is_plant_kpi(path)):
        return TagValue
    if len(path) == 7 and (path[5], path[6]) == JOB_ORDER_LIST:
        return JobOrderList
    if len(path) == 6 and path[5] == "alarms":
        return AlarmEvent
    if len(path) == 6 and path[5] == "jobs":
        return JobEvent
    if len(path) == 6 and path[5] == "updates":
        return Batch
    if len(path) == 3 and path[0] == "_bridge" and path[2] == "status":
        return BridgeStatus
    return None


def is_plant_kpi(path: list[str]) -> bool:
    """`.../plant/kpi/OEE` and its factors (the 7 levels below a plant's prefix)."""
    return len(path) == 7 and path[4] == PLANT_CELL and path[5] == PLANT_KPI_GROUP \
        and path[6] in PLANT_KPIS


def parse(path: list[str], payload: bytes) -> Message | None:
    """The validated message, None for a topic the dashboard does not show (or an empty,
    retained-value-deleting payload); raises RejectedMessage."""
    model = model_for(path)
    if model is None or not payload:
        return None
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise RejectedMessage(f"{len(payload)} bytes, at most {MAX_PAYLOAD_BYTES} accepted")
    return validate(model, payload)


def validate(model: type[BaseModel], data: bytes | dict[str, Any]) -> Any:
    try:
        if isinstance(data, bytes | bytearray):
            message = model.model_validate_json(data)
        else:
            message = model.model_validate(data)
    except ValidationError as exc:
        raise RejectedMessage(_reason(exc)) from None
    except (RecursionError, ValueError) as exc:  # a parser's own limit
        raise RejectedMessage(f"not accepted: {type(exc).__name__}") from None
    return message


def _reason(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"[:300]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
