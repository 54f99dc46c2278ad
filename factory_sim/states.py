"""The state vocabulary every cell shares, and the cell-specific detail on top of it.

The two top-level enumerations mirror OPC 40001-1 (Machinery) one to one, so that any
consumer can map a cell's state without knowing what kind of machine it is:

>>> Activity.PRODUCING.item_state, Activity.PRODUCING.operation_mode
(<MachineryItemState.EXECUTING: 3>, <MachineryOperationMode.PROCESSING: 3>)

`Activity` is the model's finer-grained account of what a cell is doing. It is what the
state-time accounting (ISO 22400) and the power model are built on; each activity maps to
exactly one Machinery item state and operation mode.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class MachineryItemState(IntEnum):
    """OPC 40001-1 MachineryItemState (values are the model's; names are the spec's)."""

    NOT_AVAILABLE = 0
    OUT_OF_SERVICE = 1
    NOT_EXECUTING = 2
    EXECUTING = 3


class MachineryOperationMode(IntEnum):
    """OPC 40001-1 MachineryOperationMode."""

    NONE = 0
    MAINTENANCE = 1
    SETUP = 2
    PROCESSING = 3


class TimeCategory(Enum):
    """ISO 22400-2 time elements a moment of a cell's life is booked to."""

    PRODUCTION = "APT"  # actual production time
    SETUP = "ASUT"  # actual unit setup time
    DELAY = "ADET"  # actual unit delay time (starved, blocked, waiting)
    DOWN = "ADOT"  # actual unit down time (failures, repairs, maintenance)
    PLANNED_DOWN = "PDOT"  # planned downtime (breaks)
    UNPLANNED = "UNPLANNED"  # outside the shift calendar (not part of POT)


class Activity(Enum):
    """What a cell is doing, in the words of the shop floor."""

    PRODUCING = ("producing", 3, 3, TimeCategory.PRODUCTION)
    SHORT_STOP = ("short_stop", 2, 3, TimeCategory.PRODUCTION)
    SETUP = ("setup", 3, 2, TimeCategory.SETUP)
    STARVED = ("starved", 2, 3, TimeCategory.DELAY)
    BLOCKED = ("blocked", 2, 3, TimeCategory.DELAY)
    WAITING_OPERATOR = ("waiting_operator", 2, 3, TimeCategory.DELAY)
    STOPPED = ("stopped", 2, 0, TimeCategory.DELAY)
    FAILED = ("failed", 1, 3, TimeCategory.DOWN)
    REPAIR = ("repair", 1, 1, TimeCategory.DOWN)
    MAINTENANCE = ("maintenance", 1, 1, TimeCategory.DOWN)
    BREAK = ("break", 0, 0, TimeCategory.PLANNED_DOWN)
    OFF_SHIFT = ("off_shift", 0, 0, TimeCategory.UNPLANNED)

    def __init__(self, label: str, item_state: int, mode: int, category: TimeCategory):
        self.label = label
        self.item_state = MachineryItemState(item_state)
        self.operation_mode = MachineryOperationMode(mode)
        self.category = category
        # Work under way runs to its end; any other activity gives way to breaks and nights.
        self.is_work = category in (TimeCategory.PRODUCTION, TimeCategory.SETUP)
        # Idle with nothing to do: a machine known to be idle may be switched to standby.
        self.is_idle = label in ("starved", "blocked", "stopped", "break")
        self.is_down = category is TimeCategory.DOWN

    def __repr__(self) -> str:
        return f"<Activity.{self.name}>"


class LaserState(IntEnum):
    """OPC 40530 LaserSystems LaserStateMachine states, for the punch/laser cell."""

    OFF = 0
    ENERGY_SAVING = 1
    IDLE = 2
    SETUP = 3
    LASER_READY = 4
    LASER_ON = 5
    ERROR = 6
    MAINTENANCE = 7


class PackMLState(IntEnum):
    """OPC 30050 / ISA-TR88.00.02 PackML machine states, for the packing cell."""

    CLEARING = 1
    STOPPED = 2
    STARTING = 3
    IDLE = 4
    SUSPENDED = 5
    EXECUTE = 6
    STOPPING = 7
    ABORTING = 8
    ABORTED = 9
    HOLDING = 10
    HELD = 11
    UNHOLDING = 12
    SUSPENDING = 13
    UNSUSPENDING = 14
    RESETTING = 15
    COMPLETING = 16
    COMPLETE = 17


class OperationalMode(IntEnum):
    """OPC 40010-1 Robotics OperationalModeEnumeration, for the cobot station."""

    OTHER = 0
    MANUAL_REDUCED_SPEED = 1
    MANUAL_HIGH_SPEED = 2
    AUTOMATIC = 3
    AUTOMATIC_EXTERNAL = 4


class ConnectivityLevel(IntEnum):
    """How connected a cell is (DESIGN.md section 1)."""

    STANDALONE = 0
    VENDOR = 1
    OPCUA = 2
    UNIFIED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class CellKind(Enum):
    PUNCH_LASER = "punch_laser"
    PRESS_BRAKE = "press_brake"
    COBOT = "cobot"
    PACKING = "packing"


class AlarmKind(Enum):
    FAILURE = "failure"
    TOOL_WEAR = "tool_wear"
    PROTECTIVE_STOP = "protective_stop"
    CONDITION = "condition"  # condition monitoring predicts a failure


class JobOrderState(IntEnum):
    """The states of a job order (ISA-95 job control, OPC 10031-4; values are the spec's
    StateNumbers). A job order is stored NotAllowedToStart, allowed to start by whoever
    dispatches it, Running once its cell takes it (Interrupted while paused), and ends Ended
    (made, or stopped early) or Aborted."""

    NOT_ALLOWED_TO_START = 1
    ALLOWED_TO_START = 2
    RUNNING = 3
    INTERRUPTED = 4
    ENDED = 5
    ABORTED = 6

    @property
    def finished(self) -> bool:
        return self in (JobOrderState.ENDED, JobOrderState.ABORTED)
