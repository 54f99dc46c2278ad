"""Scenario files: the plant, its orders, shifts, failures and connectivity, as YAML data.

Loading validates everything; an error names the file, the path of the key and what was
expected, e.g. ``scenarios/bad.yaml: cells[1].mtbf: expected a duration like 90m, 8h or 5d,
got 'often'``. See scenarios/reference-opcua.yaml for a complete, commented example.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from factory_sim.durations import parse_duration
from factory_sim.states import CellKind, ConnectivityLevel


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message says where and why."""


def _clock(value: Any) -> float:
    """"06:30" -> seconds after midnight; "24:00" and later allowed for night shifts."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads 06:30 unquoted as a sexagesimal number of minutes.
        return float(value * 60)
    text = str(value)
    try:
        hours, minutes = text.split(":")
        seconds = int(hours) * 3600 + int(minutes) * 60
    except ValueError:
        raise ValueError(f'expected a time of day like "06:00", got {value!r}') from None
    if not 0 <= int(minutes) < 60 or seconds < 0:
        raise ValueError(f'expected a time of day like "06:00", got {value!r}')
    return float(seconds)


Duration = Annotated[float, BeforeValidator(parse_duration)]
ClockTime = Annotated[float, BeforeValidator(_clock)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Monday is weekday 0
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hierarchy(Strict):
    """ISA-95 names of where the plant sits."""

    enterprise: str = "acme-metal"
    site: str = "plant-1"
    area: str = "fabrication"
    line: str = "line-1"


class BreakSpec(Strict):
    start: ClockTime
    duration: Duration


class ShiftSpec(Strict):
    name: str
    start: ClockTime
    end: ClockTime
    breaks: list[BreakSpec] = []

    @model_validator(mode="after")
    def _ordered(self) -> ShiftSpec:
        if self.end <= self.start:
            raise ValueError("expected the shift to end after it starts (use 30:00 for 06:00 "
                             "the next day)")
        for brk in self.breaks:
            if not (self.start <= brk.start and brk.start + brk.duration <= self.end):
                raise ValueError("expected every break to lie within its shift")
        return self


class CalendarSpec(Strict):
    workdays: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    shifts: list[ShiftSpec] = Field(min_length=1)


class ProductSpec(Strict):
    """A product variant: its routing through the cells and its planned cycle times."""

    name: str
    family: str  # setup family: changing family costs a full setup
    routing: list[str] = Field(min_length=1)
    cycle: dict[str, Duration]  # planned cycle time per cell on the routing (ISO 22400 PRI)
    tool: str | None = None  # press brake tool
    bends: int = Field(default=1, ge=1)  # press brake strokes per part

    @model_validator(mode="after")
    def _cycle_for_routing(self) -> ProductSpec:
        missing = [cell for cell in self.routing if cell not in self.cycle]
        if missing:
            raise ValueError(f"expected a cycle time for every cell on the routing; "
                             f"missing: {', '.join(missing)}")
        return self


class ReleaseSpec(Strict):
    rule: Literal["push", "conwip"] = "conwip"
    wip_cap: int = Field(default=10, ge=1)  # CONWIP cards: orders on the floor at most


MAX_BACKLOG_ORDERS = 10_000


class OrdersSpec(Strict):
    interarrival: Duration  # mean time between order arrivals (exponential)
    mix: dict[str, float]  # product -> weight
    lot_sizes: dict[int, float]  # lot size -> weight
    due: Duration  # due date after arrival (the earliest, if `due_latest` is given)
    due_latest: Duration | None = None  # due dates spread evenly between `due` and this
    # Orders already waiting at the start: those that arrived during this long before it
    # (the weekend before a Monday start), so that a run begins like any working week.
    backlog: Duration = 0.0
    # The backlog's most urgent orders already on the floor at the start (last week's work
    # in progress), each at a step of its routing drawn at random, where its buffer has room.
    on_floor_at_start: int = Field(default=0, ge=0)
    release: ReleaseSpec = ReleaseSpec()

    @model_validator(mode="after")
    def _due_range(self) -> OrdersSpec:
        if self.due_latest is not None and self.due_latest < self.due:
            raise ValueError("expected due_latest to be at least due")
        if self.interarrival > 0 and self.backlog / self.interarrival > MAX_BACKLOG_ORDERS:
            raise ValueError(f"expected a backlog of at most {MAX_BACKLOG_ORDERS:,} orders "
                             f"(backlog / interarrival)")
        return self

    @field_validator("mix", "lot_sizes")
    @classmethod
    def _weights(cls, value: dict) -> dict:
        if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("expected positive weights")
        return value


class OperatorSpec(Strict):
    name: str
    skills: list[str] = Field(min_length=1)  # cell names this operator can set up and run


class PredictiveSpec(Strict):
    """Condition monitoring (unified level): failures foreseen and turned into maintenance."""

    coverage: Probability = 0.6  # share of failures the monitoring foresees
    lead: Duration = 4 * 3600.0  # warning lead time in operating time
    duration: Duration = 1800.0  # planned maintenance instead of the repair


class MaintenanceSpec(Strict):
    technicians: int = Field(default=1, ge=1)
    detection_standalone: Duration = 1200.0  # mean time until an operator notices a breakdown
    response: Duration = 600.0  # mean time for a technician to reach the cell
    reset: Duration = 120.0  # operator reset after a repair (a remote reset is quicker)
    predictive: PredictiveSpec = PredictiveSpec()


class InformationSpec(Strict):
    """How fast and how exactly the planner learns what happens on the floor."""

    report_error: Probability = 0.05  # relative transcription error in shift reports
    short_stop_reported: Probability = 0.0  # share of short stops written down
    vendor_poll: Duration = 10.0  # polling interval of a vendor interface adapter
    opcua_publish: Duration = 1.0  # OPC UA publishing interval


class JobDataSpec(Strict):
    """Job data transfer: programs and job parameters reaching a machine by hand.

    Where a machine is not coupled to the office systems, each new job's program and
    parameters are walked over, carried on a USB stick or typed in: that lengthens the setup
    and sometimes makes the first part with a wrong parameter. A mapped vendor interface
    removes `mapped_vendor_removes` of both; OPC UA and unified remove them."""

    manual_transfer: Duration = 0.0  # added to every change of job (variant), by hand
    wrong_parameter: Probability = 0.0  # chance the first part after it is scrap
    mapped_vendor_removes: Probability = 0.5


class DispatchSpec(Strict):
    """Which lot goes next, on the knowledge the plant has (release and every cell)."""

    sequencing_slack: Duration = 8 * 3600.0  # earlier-due work setup-aware sequencing may pass


class StandbySpec(Strict):
    """Idle machines switched to standby where the plant knows they are idle (live cells)."""

    after: Duration = 300.0  # idle this long before the machine is switched to standby


class PowerSpec(Strict):
    producing: float = Field(ge=0)
    setup: float = Field(ge=0)
    idle: float = Field(ge=0)
    down: float = Field(ge=0)
    off_shift: float = Field(ge=0)
    standby: float | None = Field(default=None, ge=0)  # kW; None: no standby mode


class ShortStopSpec(Strict):
    probability: Probability = 0.0  # per part
    mean: Duration = 60.0


class SetupSpec(Strict):
    same_family: Duration = 0.0
    other_family: Duration = 0.0


class ToolingSpec(Strict):
    """The press brake's automatic tool change."""

    change: Duration = 90.0  # automatic tool change
    life: int = Field(default=20000, ge=1)  # strokes a tool lasts
    warn_at: Probability = 0.1  # tool wear alarm below this share of life left
    replace: Duration = 900.0  # manual replacement of a worn tool (needs an operator)


class ProtectiveStopSpec(Strict):
    """The cobot's protective stops (someone entered the collaborative space too fast)."""

    per_hour: float = Field(default=0.0, ge=0)
    mean: Duration = 45.0


class VendorSpec(Strict):
    name: str  # the vendor's key, e.g. "lasertec": its own namespace at the vendor level
    manufacturer: str
    model: str
    serial_number: str
    year_of_construction: int = Field(ge=1950, le=2100)
    software_revision: str = "1.0.0"


class CellSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    kind: CellKind
    vendor: VendorSpec
    connectivity: ConnectivityLevel | None = None  # overrides the plant's level
    mapped: bool = False  # vendor level: a hand-written adapter exists for this cell
    buffer: int = Field(default=4, ge=1)  # input buffer, in lots
    cycle_variation: float = Field(default=0.1, ge=0, le=1)  # coefficient of variation
    speed_loss: float = Field(default=0.05, ge=0, le=0.9)  # mean slow-down against plan
    setup: SetupSpec = SetupSpec()
    mtbf: Duration  # mean operating time between failures
    mttr: Duration  # mean hands-on repair time
    scrap: Probability = 0.0
    rework: Probability = 0.0
    short_stops: ShortStopSpec = ShortStopSpec()
    power: PowerSpec
    tooling: ToolingSpec | None = None  # press brake
    protective_stops: ProtectiveStopSpec | None = None  # cobot

    @field_validator("connectivity", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return _connectivity(value)


def _connectivity(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ConnectivityLevel[value.upper()]
        except KeyError:
            names = ", ".join(level.label for level in ConnectivityLevel)
            raise ValueError(f"expected one of {names}, got {value!r}") from None
    return value


class Scenario(Strict):
    name: str
    description: str
    seed: int = 1
    duration: Duration = 5 * 86400.0
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    connectivity: ConnectivityLevel
    hierarchy: Hierarchy = Hierarchy()
    calendar: CalendarSpec
    products: list[ProductSpec] = Field(min_length=1)
    orders: OrdersSpec
    operators: list[OperatorSpec] = Field(min_length=1)
    maintenance: MaintenanceSpec = MaintenanceSpec()
    information: InformationSpec = InformationSpec()
    job_data: JobDataSpec = JobDataSpec()
    dispatch: DispatchSpec = DispatchSpec()
    standby: StandbySpec = StandbySpec()
    consumers: list[str] = ["planning", "maintenance", "quality"]  # who needs the data
    cells: list[CellSpec] = Field(min_length=1)

    @field_validator("connectivity", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return _connectivity(value)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        cells = {cell.name: cell for cell in self.cells}
        if len(cells) != len(self.cells):
            raise ValueError("expected unique cell names")
        products = {p.name for p in self.products}
        for product in self.products:
            for step in product.routing:
                if step not in cells:
                    raise ValueError(f"product {product.name!r}: routing names unknown cell "
                                     f"{step!r}; cells are {', '.join(cells)}")
                if cells[step].kind is CellKind.PRESS_BRAKE and not product.tool:
                    raise ValueError(f"product {product.name!r}: expected a press brake tool")
        for name in self.orders.mix:
            if name not in products:
                raise ValueError(f"orders.mix names unknown product {name!r}")
        for operator in self.operators:
            for skill in operator.skills:
                if skill not in cells:
                    raise ValueError(f"operator {operator.name!r}: skill names unknown cell "
                                     f"{skill!r}")
        for cell in self.cells:
            if not any(cell.name in op.skills for op in self.operators):
                raise ValueError(f"cell {cell.name!r}: no operator has the skill to run it")
            if cell.kind is CellKind.PRESS_BRAKE and cell.tooling is None:
                raise ValueError(f"cell {cell.name!r}: a press brake needs `tooling`")
        return self

    def level_of(self, cell: CellSpec) -> ConnectivityLevel:
        return self.connectivity if cell.connectivity is None else cell.connectivity


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError naming file and key.

    A file may name a `base:` scenario (relative to itself) and override only what differs;
    mappings merge key by key, and `cells` merge by cell name.
    """
    path = Path(path)
    return scenario_from_dict(_read_with_base(path, seen=()), source=str(path))


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}:{where} not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario keys at the top level")
    return data


def _read_with_base(path: Path, seen: tuple[Path, ...]) -> dict:
    data = _read(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ScenarioError(f"{path}: base: expected the file name of a scenario, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in seen or base_path == path.resolve():
        raise ScenarioError(f"{path}: base: {base} leads back to itself")
    if not base_path.is_file():
        raise ScenarioError(f"{path}: base: no scenario file {base} next to this one")
    return _merge(_read_with_base(base_path, (*seen, path.resolve())), data, path)


def _merge(base: dict, override: dict, path: Path) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if key == "cells" and isinstance(value, list) and isinstance(base.get(key), list):
            merged[key] = _merge_cells(base[key], value, path)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value, path)
        else:
            merged[key] = value
    return merged


def _merge_cells(base: list, override: list, path: Path) -> list:
    cells = [dict(cell) if isinstance(cell, dict) else cell for cell in base]
    by_name = {cell.get("name"): i for i, cell in enumerate(cells) if isinstance(cell, dict)}
    for i, cell in enumerate(override):
        if not isinstance(cell, dict) or "name" not in cell:
            raise ScenarioError(f"{path}: cells[{i}]: expected a mapping with the `name` of the "
                                f"cell to override or add")
        if cell["name"] in by_name:
            index = by_name[cell["name"]]
            cells[index] = _merge(cells[index], cell, path)
        else:
            cells.append(cell)
    return cells


def scenario_from_dict(data: Any, source: str = "<scenario>") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario keys at the top level")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source)) from None


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for error in exc.errors():
        where = _key_path(error["loc"]) or "(top level)"
        message = error["msg"]
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif "input" in error and error["type"] not in ("value_error",):
            message = f"{message}, got {error['input']!r}"
        lines.append(f"{source}: {where}: {message}")
    return "\n".join(lines)


def _key_path(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
