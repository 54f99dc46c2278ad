"""Machine states as UMH state codes (`_analytics/state/add`).

UMH classifies a state by a number (its documentation's state pages, "Active (10000-29999)",
"Unknown (30000-59999)", "Material (60000-99999)", "Process (100000-139999)",
"Operator (140000-159999)", "Planning (160000-179999)", "Technical (180000-229999)"). The
bridge reads a machine's state over OPC UA and maps it by one of these tables:

* `state/CurrentState`, OPC 40001-1's MachineryItemState (any Machinery server): coarse,
  NotExecuting covers every reason for not producing;
* `Monitoring/Activity`, factory-sim's own activity of a cell: what the shop floor calls it,
  one UMH state each.
"""

from __future__ import annotations

PRODUCING = 10000  # ProducingAtFullSpeedState
UNKNOWN = 30000  # UnknownState
UNSPECIFIED_STOP = 40000  # UnspecifiedStopState
MICROSTOP = 50000  # MicrostopState
INLET_JAM = 60000  # InletJamState: no material comes in (starved)
OUTLET_JAM = 70000  # OutletJamState: nothing can go out (blocked)
CHANGEOVER = 100000  # ChangeoverState
OPERATOR_NOT_AT_MACHINE = 140000  # OperatorNotAtMachineState
OPERATOR_BREAK = 150000  # OperatorBreakState
NO_SHIFT = 160000  # NoShiftState
EQUIPMENT_FAILURE = 180000  # EquipmentFailureState
PREVENTIVE_MAINTENANCE = 210000  # PreventiveMaintenanceStop

#: the state variable (group/tag) -> its values -> UMH state
TABLES: dict[str, dict[str, int]] = {
    "state/CurrentState": {
        "Executing": PRODUCING,
        "NotExecuting": UNSPECIFIED_STOP,
        "OutOfService": EQUIPMENT_FAILURE,
        "NotAvailable": UNKNOWN,
    },
    "Monitoring/Activity": {
        "producing": PRODUCING,
        "short_stop": MICROSTOP,
        "setup": CHANGEOVER,
        "starved": INLET_JAM,
        "blocked": OUTLET_JAM,
        "waiting_operator": OPERATOR_NOT_AT_MACHINE,
        "stopped": UNSPECIFIED_STOP,
        "failed": EQUIPMENT_FAILURE,
        "repair": EQUIPMENT_FAILURE,
        "maintenance": PREVENTIVE_MAINTENANCE,
        "break": OPERATOR_BREAK,
        "off_shift": NO_SHIFT,
    },
}


def umh_state(variable: str, value: object) -> int | None:
    """The UMH state of a state variable's value; None for a value the table does not know
    (a bad status, a state added later): no state message rather than a wrong one."""
    table = TABLES.get(variable)
    return None if table is None or not isinstance(value, str) else table.get(value)
