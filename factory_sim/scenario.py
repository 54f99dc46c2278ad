"""Scenario files: the plant, its orders, shifts, failures and connectivity, as YAML data.

Loading validates everything; an error names the file, the path of the key and what was
expected, e.g. ``bad.yaml: cells[1].mtbf: expected a duration like 90m, 8h or 5d,
got 'often'``. See the shipped factory_sim/scenarios/reference-opcua.yaml for a complete,
commented example.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bounded_yaml import BoundedLoader, YamlInputError, load_yaml, read_yaml_file
from factory_sim import wall_clock
from factory_sim.durations import parse_duration
from factory_sim.shipped import shipped_scenario
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


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"expected a duration longer than zero (it is a mean or a rate), "
                         f"got {seconds:g} s")
    return seconds


# The longest run accepted: beyond ten years a run teaches nothing new, and a typo such as
# 1000y would keep the machine busy for hours.
MAX_DURATION = 10 * 365 * 86400.0


def _run_length(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"expected a duration longer than zero, got {seconds:g} s")
    if seconds > MAX_DURATION:
        raise ValueError(f"expected at most 10y ({MAX_DURATION:g} s), got {seconds:g} s")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
RunLength = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_run_length)]
ClockTime = Annotated[float, BeforeValidator(_clock)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # Monday is weekday 0
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# Names that become MQTT topic levels and parts of file names: no "/", "+", "#", spaces or
# dots, nothing a shell or a file system treats specially.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SLUG = "a slug of 1 to 64 lower-case letters, digits, '-' and '_' (a topic level, a file name)"


def _slug(value: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, value):
        raise ValueError(f"expected {SLUG}, got {value!r}")
    return value


Slug = Annotated[str, AfterValidator(_slug)]


class Hierarchy(Strict):
    """ISA-95 names of where the plant sits (levels of its MQTT topics)."""

    enterprise: Slug = "acme-metal"
    site: Slug = "plant-1"
    area: Slug = "fabrication"
    line: Slug = "line-1"


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
    workdays: list[Weekday] = Field(default=["mon", "tue", "wed", "thu", "fri"],
                                    min_length=1)
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
# One order a minute at most: a shop of four cells takes far fewer, and a typo such as 0.001s
# would otherwise flood a run with millions of orders.
MIN_INTERARRIVAL = 60.0


def _interarrival(seconds: float) -> float:
    if _positive(seconds) < MIN_INTERARRIVAL:
        raise ValueError(f"expected at least 1m (one order a minute), got {seconds:g} s")
    return seconds


class OrdersSpec(Strict):
    # mean time between order arrivals (exponential)
    interarrival: Annotated[float, BeforeValidator(parse_duration), AfterValidator(_interarrival)]
    mix: dict[str, float]  # product -> weight
    lot_sizes: dict[Annotated[int, Field(ge=1)], float]  # lot size -> weight
    due: Duration  # due date after arrival (the earliest, if `due_latest` is given)
    due_latest: Duration | None = None  # due dates spread evenly between `due` and this
    # Orders already waiting at the start: those that arrived during this long before it
    # (the weekend before a Monday start), so that a run begins like any working week.
    backlog: Duration = 0.0
    # The backlog's most urgent orders already on the floor at the start (last week's work
    # in progress), each at a step of its routing drawn at random, where its buffer has room.
    on_floor_at_start: int = Field(default=0, ge=0)
    release: ReleaseSpec = ReleaseSpec()
    # How due dates are quoted: `calendar` time round the clock, or `working_time` against
    # the shift calendar (as a shop quotes them: "in three working days").
    due_in: Literal["calendar", "working_time"] = "calendar"
    # A scrapped part: `remake` it (the order ships when its quantity is good), or
    # `short_ship` (the order ships with fewer parts and is not in full).
    scrap: Literal["remake", "short_ship"] = "short_ship"

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
    """Condition monitoring (an application of the unified level, `mechanisms.maintenance:
    predictive`): failures foreseen and turned into planned maintenance.

    Teaching estimates: replace them with your monitoring's measured figures."""

    coverage: Probability = 0.6  # share of failures the monitoring foresees
    lead: Duration = 4 * 3600.0  # warning lead time in operating time
    duration: Duration = 1800.0  # planned maintenance instead of the repair
    # Warnings with no failure behind them, per cell and week of working time: each costs
    # a planned maintenance all the same.
    false_alarms_per_week: float = Field(default=0.5, ge=0, le=100)
    # A warning waits for the next break or shift end if it comes within this much time
    # (the failure may come first); 0: maintain at once, mid-lot.
    into_break_within: Duration = 2 * 3600.0


class MaintenanceSpec(Strict):
    technicians: int = Field(default=1, ge=1)
    # mean time until an operator notices a breakdown
    detection_standalone: PositiveDuration = 1200.0
    response: PositiveDuration = 600.0  # mean time for a technician to reach the cell
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

    manual_transfer: Duration = 0.0  # mean added to a change to a new job, by hand
    wrong_parameter: Probability = 0.0  # chance the first part after it is scrap
    mapped_vendor_removes: Probability = 0.5
    # Repeat jobs (the program is on the machine already, only parameters are checked) take
    # `repeat_transfer` instead; `new_job_share` of the changes are new jobs.
    new_job_share: Probability = 1.0
    repeat_transfer: Duration = 0.0
    # Variation of each transfer (lognormal around its mean); 0: always exactly the mean.
    transfer_cv: float = Field(default=0.0, ge=0, le=2)


class DispatchSpec(Strict):
    """Which lot goes next, on the knowledge the plant has (release and every cell)."""

    sequencing_slack: Duration = 8 * 3600.0  # earlier-due work setup-aware sequencing may pass


class StandbySpec(Strict):
    """Idle machines switched to standby: by the plant, which knows no work is coming (live
    cells), or by the machine's own timer, set longer because the machine cannot know."""

    after: Duration = 300.0  # plant-switched: idle this long before standby
    local_after: Duration = 900.0  # the machine's own timer (mechanisms.standby: local)


class OutageSpec(Strict):
    """One outage at a stated time: `at` after the start, for `duration`."""

    at: Duration
    duration: PositiveDuration


class NetworkSpec(Strict):
    """Network or server outages, during which connected cells fall back to the paper route
    (`factory_sim.network`): at random (`outages_per_year`, `mean_outage`; teaching
    estimates, 0 switches them off) and at stated times (`scheduled`, e.g. for a lab)."""

    outages_per_year: float = Field(default=0.0, ge=0, le=1000)
    mean_outage: PositiveDuration = 4 * 3600.0
    scheduled: list[OutageSpec] = Field(default=[], max_length=100)


class MechanismsSpec(Strict):
    """Each way connectivity changes what happens, as a named switch (`factory_sim.mechanisms`).

    Unset (None), a switch takes the setting of the cell's connectivity level; set, it
    overrides it for every cell (in the scenario) or for one cell (in the cell).
    """

    notification: Literal["operator", "alarm"] | None = None
    job_data: Literal["by_hand", "mapped", "wire"] | None = None
    information: Literal["shift_report", "live"] | None = None
    dispatch: Literal["fifo", "paper", "live"] | None = None
    sequencing: Literal["none", "local", "plant"] | None = None
    maintenance: Literal["reactive", "predictive"] | None = None
    standby: Literal["none", "local", "plant"] | None = None


class PowerSpec(Strict):
    producing: float = Field(ge=0)
    setup: float = Field(ge=0)
    idle: float = Field(ge=0)
    down: float = Field(ge=0)
    off_shift: float = Field(ge=0)
    standby: float | None = Field(default=None, ge=0)  # kW; None: no standby mode


class ShortStopSpec(Strict):
    probability: Probability = 0.0  # per part
    mean: PositiveDuration = 60.0


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
    mean: PositiveDuration = 45.0


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
    mtbf: PositiveDuration  # mean operating time between failures
    mttr: PositiveDuration  # mean hands-on repair time
    scrap: Probability = 0.0
    rework: Probability = 0.0
    short_stops: ShortStopSpec = ShortStopSpec()
    power: PowerSpec
    tooling: ToolingSpec | None = None  # press brake
    protective_stops: ProtectiveStopSpec | None = None  # cobot
    mechanisms: MechanismsSpec = MechanismsSpec()  # this cell's switches (over the plant's)

    @field_validator("connectivity", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return _connectivity(value)

    @model_validator(mode="after")
    def _outcomes(self) -> CellSpec:
        if self.scrap + self.rework > 1:
            raise ValueError(f"expected scrap + rework of at most 1, got {self.scrap:g} + "
                             f"{self.rework:g}")
        return self


def _connectivity(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ConnectivityLevel[value.upper()]
        except KeyError:
            names = ", ".join(level.label for level in ConnectivityLevel)
            raise ValueError(f"expected one of {names}, got {value!r}") from None
    return value


class IntegrationSpec(Strict):
    """What building and keeping interfaces costs (integration effort in `compare`).

    Teaching estimates, not measurements: replace them with your own plant's figures.
    """

    adapter_build_h: float = Field(default=80.0, ge=0)  # one vendor adapter to one consumer
    standard_build_h: float = Field(default=40.0, ge=0)  # one standard interface (OPC UA)
    # Each consumer maps each further companion specification its machines speak (Machinery
    # for the press brake, LaserSystems, Robotics, PackML, ...) once.
    companion_mapping_h: float = Field(default=24.0, ge=0)
    upkeep_h_per_year: float = Field(default=16.0, ge=0)  # per interface and year
    report_min: float = Field(default=10.0, ge=0)  # typing in one paper shift report
    rate_per_h: float = Field(default=95.0, ge=0)  # an engineering hour, EUR
    # Fixed costs of a standard landscape, whatever its size: licences, SDK, broker, security
    # set-up (certificates, users), training; and licences and certificates each year.
    standard_fixed_eur: float = Field(default=15000.0, ge=0)
    standard_fixed_eur_per_year: float = Field(default=3000.0, ge=0)
    # The unified level's applications: condition-monitoring sensors per cell, analytics
    # each year; a plant-wide sequencing (APS) licence each year.
    predictive_eur_per_cell: float = Field(default=4000.0, ge=0)
    predictive_eur_per_year: float = Field(default=6000.0, ge=0)
    sequencing_eur_per_year: float = Field(default=5000.0, ge=0)
    # What the KPI gains are worth, for the payback period in `compare`.
    energy_eur_per_kwh: float = Field(default=0.25, ge=0)
    margin_eur_per_part: float = Field(default=3.0, ge=0)  # contribution of a good part
    late_order_eur: float = Field(default=60.0, ge=0)  # expediting, penalties, goodwill


class Scenario(Strict):
    name: Slug
    description: str
    seed: int = Field(default=1, ge=0, le=2**64 - 1)
    duration: RunLength = 5 * 86400.0
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
    mechanisms: MechanismsSpec = MechanismsSpec()  # switches for every cell (over the level)
    network: NetworkSpec = NetworkSpec()
    consumers: list[str] = ["planning", "maintenance", "quality"]  # who needs the data
    integration: IntegrationSpec = IntegrationSpec()
    cells: list[CellSpec] = Field(min_length=1)

    @field_validator("connectivity", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return _connectivity(value)

    @field_validator("start", mode="before")
    @classmethod
    def _date_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("expected a date and time like 2026-01-05T06:00:00Z, or now, "
                                 f"or now/shift, got {value!r}") from None
        return value

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="wrap")
    @classmethod
    def _wall_clock(cls, data: Any, handler: Any) -> Scenario:
        """`start: now` or `now/shift`: the wall-clock time (factory_sim.wall_clock)."""
        wanted = data.get("start") if isinstance(data, dict) else None
        if not (isinstance(wanted, str) and wanted.strip() in wall_clock.WORDS):
            return handler(data)
        now = wall_clock.wall_clock_now()
        scenario = handler({**data, "start": now})
        if wanted.strip() == wall_clock.NOW:
            return scenario
        shifts = [(shift.start, shift.end) for shift in scenario.calendar.shifts]
        workdays = {WEEKDAYS.index(day) for day in scenario.calendar.workdays}
        started = wall_clock.shift_under_way(now, shifts, workdays)
        return scenario.model_copy(update={"start": started or now})

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


class Replace(dict):
    """A mapping that replaces the base's mapping of the same key instead of merging into it.

    Written ``!replace`` in a scenario file (``mix: !replace {bracket: 1}``) and ``:=`` in an
    override (``--set orders.mix:={bracket: 1}``).
    """


class _YamlLoader(BoundedLoader):
    """The project's bounded YAML loader plus the ``!replace`` tag."""


def _construct_replace(loader: _YamlLoader, node: yaml.Node) -> Replace:
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(
            None, None, "expected a mapping after !replace", node.start_mark)
    return Replace(loader.construct_mapping(node, deep=True))


def _construct_timestamp(loader: _YamlLoader, node: yaml.Node) -> datetime:
    """A date YAML recognises but the calendar has not (2026-13-01) is a YAML error, not a
    crash."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a date ({exc})", node.start_mark) from None


_YamlLoader.add_constructor("!replace", _construct_replace)
_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)

Key = tuple[str | int, ...]
# Where each node of the merged data came from: merged key path -> (source, key path there).
Origins = dict[Key, tuple[str, Key]]


@dataclass(frozen=True)
class Override:
    """One ``key.path=value`` given on the command line (``key.path:=value`` replaces).

    In `path` an int indexes a list and a name on a list picks its item of that `name`
    (``cells.press-brake.mtbf``), so an override need not know the position of a cell.
    """

    text: str  # as the user typed it
    path: Key
    value: Any
    source: str = "--set"  # the option it was given with, for error messages


def parse_override(text: str, option: str = "--set") -> Override:
    """``orders.interarrival=12m`` -> Override; the value is read as YAML (``{a: 1}``, ``[x]``)."""
    key, sep, raw = text.partition("=")
    text = _shown(text)
    replace = key.endswith(":")
    key = key.removesuffix(":").strip()
    if not sep or not key:
        raise ScenarioError(f"{option} {text}: expected key.path=value (or key.path:=value to "
                            "replace a mapping), e.g. orders.interarrival=12m")
    path: list[str | int] = []
    for segment in key.split("."):
        match = re.fullmatch(r"([^\[\]]*)((?:\[\d+\])*)", segment)
        if not match or not (match[1] or match[2]) or (not path and not match[1]):
            raise ScenarioError(f"{option} {text}: expected a key path like orders.mix.bracket, "
                                f"cells.press-brake.mtbf or calendar.shifts[0].end, got {key!r}")
        if match[1]:
            path.append(match[1])
        path.extend(int(index) for index in re.findall(r"\[(\d+)\]", match[2]))
    try:
        value = load_yaml(raw, f"{option} {text}", _YamlLoader, max_bytes=MAX_OVERRIDE_BYTES)
    except YamlInputError as exc:
        raise ScenarioError(str(exc)) from None
    if (found := _not_finite(value)) is not None:
        where, number = found
        inner = f" at {where}" if where else ""
        raise ScenarioError(f"{option} {text}: expected a finite number, got {number!r}{inner}")
    if replace:
        if not isinstance(value, dict):
            raise ScenarioError(f"{option} {text}: `:=` replaces a mapping; expected a value like "
                                "{bracket: 1, housing: 2}")
        value = Replace(value)
    return Override(text, tuple(path), value, option)


# A --set value is one line typed by a person; a scenario file is the place for more.
MAX_OVERRIDE_BYTES = 64 * 1024
SHOWN_CHARACTERS = 120


def _shown(text: str) -> str:
    """`text` as an error message quotes it: on one line, control characters escaped, cut."""
    if text.isprintable() and len(text) <= SHOWN_CHARACTERS:
        return text
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    cut = escaped[:SHOWN_CHARACTERS]
    return cut if len(cut) == len(escaped) else cut + "…"


def _not_finite(value: Any, at: str = "") -> tuple[str, float] | None:
    """The key path (within `value`; "" for itself) and value of its first inf or NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return at, value
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        inner = f"{at}[{key}]" if isinstance(key, int) else f"{at}.{key}" if at else str(key)
        found = _not_finite(item, inner)
        if found is not None:
            return found
    return None


def load_scenario(path: str | Path, overrides: Iterable[Override] = ()) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError naming file and key.

    A file may name a `base:` scenario (a file relative to itself, or a shipped scenario's
    name such as ``reference-opcua``) and override only what differs;
    mappings merge key by key (unless tagged ``!replace``), and `cells` merge by cell name.
    `overrides` (``--set``) apply last, in order, the same way. An error names the file (or
    the ``--set``) a key came from and its path there, not in the merged data.
    """
    path = Path(path)
    origins: Origins = {}
    data = _read_with_base(path, (), origins)
    for override in overrides:
        data = _apply_override(data, override, origins)
    return scenario_from_dict(data, source=str(path), origins=origins)


def _read(path: Path) -> dict:
    try:
        data = read_yaml_file(path, "scenario file (.yaml)", _YamlLoader)
    except YamlInputError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario keys at the top level")
    return data


def _read_with_base(path: Path, seen: tuple[Path, ...], origins: Origins) -> dict:
    data = _read(path)
    base = data.pop("base", None)
    if base is None:
        _record(data, (), (), str(path), origins)
        return data
    if not isinstance(base, str):
        raise ScenarioError(f"{path}: base: expected the file name of a scenario, got {base!r}")
    base_path = (path.parent / base).resolve()
    if not base_path.is_file():
        shipped = shipped_scenario(base)
        if shipped is None:
            raise ScenarioError(f"{path}: base: no scenario file {base} next to this one, "
                                "nor a shipped scenario of that name")
        base_path = shipped.resolve()
    if base_path in seen or base_path == path.resolve():
        raise ScenarioError(f"{path}: base: {base} leads back to itself")
    base_data = _read_with_base(base_path, (*seen, path.resolve()), origins)
    return _merge(base_data, data, str(path), origins, (), ())


def _record(value: Any, at: Key, by: Key, source: str, origins: Origins) -> None:
    """Note that `value`, at merged path `at`, came from `source` at its path `by`."""
    origins[at] = (source, by)
    if isinstance(value, dict):
        for key, item in value.items():
            _record(item, (*at, key), (*by, key), source, origins)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _record(item, (*at, index), (*by, index), source, origins)


def _replace(value: Any, at: Key, by: Key, source: str, origins: Origins) -> Any:
    """`value` takes the place of whatever was at `at`: forget where the old parts came from."""
    for key in [key for key in origins if key[:len(at)] == at]:
        del origins[key]
    _record(value, at, by, source, origins)
    return value


def _merge(base: dict, override: dict, source: str, origins: Origins, at: Key,
           by: Key) -> dict:
    merged = dict(base)
    for key, value in override.items():
        here, there = (*at, key), (*by, key)
        if key == "cells" and isinstance(value, list) and isinstance(base.get(key), list):
            origins[here] = (source, there)
            merged[key] = _merge_cells(base[key], value, source, origins, here, there)
        elif (isinstance(value, dict) and not isinstance(value, Replace)
              and isinstance(base.get(key), dict)):
            origins[here] = (source, there)
            merged[key] = _merge(base[key], value, source, origins, here, there)
        else:
            merged[key] = _replace(value, here, there, source, origins)
    return merged


def _merge_cells(base: list, override: list, source: str, origins: Origins, at: Key,
                 by: Key) -> list:
    cells = [dict(cell) if isinstance(cell, dict) else cell for cell in base]
    by_name = {cell.get("name"): i for i, cell in enumerate(cells) if isinstance(cell, dict)}
    for i, cell in enumerate(override):
        if not isinstance(cell, dict) or "name" not in cell:
            raise ScenarioError(f"{_where(source, (*by, i))}: expected a mapping with the "
                                "`name` of the cell to override or add")
        index = by_name.get(cell["name"])
        if index is None:
            cells.append(_replace(cell, (*at, len(cells)), (*by, i), source, origins))
        else:
            origins[(*at, index)] = (source, (*by, i))
            cells[index] = _merge(cells[index], cell, source, origins, (*at, index), (*by, i))
    return cells


def _apply_override(data: dict, override: Override, origins: Origins) -> dict:
    """`data` with `override` applied: a mapping merges into a mapping unless it is Replace."""
    node: Any = data
    at: Key = ()
    path, value, source = override.path, override.value, override.source
    for depth, key in enumerate(path):
        shown = _key_path(path[:depth]) or "the top level"
        if isinstance(node, dict) and isinstance(key, str):
            actual: str | int = key
            child = node.get(key)
        elif isinstance(node, list):
            actual = _list_index(node, key, override, shown)
            child = node[actual]
        else:
            kind = "a mapping" if isinstance(node, dict) else "a single value"
            raise ScenarioError(f"{override.source} {override.text}: {shown} is {kind}; "
                                f"expected a key path that goes into it, got {_key_path(path)}")
        at = (*at, actual)
        if depth < len(path) - 1:
            if child is None:
                child = node[actual] = {}
                origins[at] = (source, path[:depth + 1])
            node = child
        elif isinstance(value, dict) and not isinstance(value, Replace) and isinstance(child,
                                                                                       dict):
            origins[at] = (source, path)
            node[actual] = _merge(child, value, source, origins, at, path)
        else:
            node[actual] = _replace(value, at, path, source, origins)
    return data


def _list_index(items: list, key: str | int, override: Override, shown: str) -> int:
    """The position in `items` that `key` names: an index, or the item with that `name`."""
    if isinstance(key, int):
        if key >= len(items):
            raise ScenarioError(f"{override.source} {override.text}: {shown} has {len(items)} "
                                f"items; expected an index below {len(items)}, got [{key}]")
        return key
    names = [item.get("name") for item in items if isinstance(item, dict)]
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == key:
            return index
    raise ScenarioError(f"{override.source} {override.text}: {shown} has no item named {key!r}; "
                        f"expected one of {', '.join(map(str, names)) or 'nothing: it is empty'}")


def scenario_from_dict(data: Any, source: str = "<scenario>",
                       origins: Origins | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of scenario keys at the top level")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source, origins or {})) from None


def _describe(exc: ValidationError, source: str, origins: Origins) -> str:
    """Every problem, on one line: where the user wrote the key, and what was expected."""
    problems = []
    for error in exc.errors():
        message = error["msg"]
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif "input" in error and error["type"] not in ("value_error",):
            message = f"{message}, got {error['input']!r}"
        problems.append(f"{_where(*_origin(error['loc'], source, origins))}: {message}")
    return "; ".join(problems)


def _origin(loc: tuple, source: str, origins: Origins) -> tuple[str, Key]:
    """The source and key path the user wrote for merged path `loc` (its longest known prefix).

    Problems with the scenario as a whole (an empty `loc`) belong to the file the user named.
    """
    for length in range(len(loc), 0, -1):
        found = origins.get(tuple(loc[:length]))
        if found is not None:
            return found[0], (*found[1], *loc[length:])
    return source, tuple(loc)


def _where(source: str, key: Key) -> str:
    """"file.yaml: cells[0].mtbf" or "--set cells.laser.mtbf"."""
    path = _key_path(key) or "(top level)"
    return f"{source} {path}" if source.startswith("--") else f"{source}: {path}"


def _key_path(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
