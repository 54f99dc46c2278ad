"""Official numeric NodeIds from the companion specifications, as the project uses them.

Each number is the identifier inside its own namespace (see `opcua_server.namespaces`); the
index is only known once a server has registered the namespaces. The values are those of the
published specifications (OPC 40001-1 v1.03, OPC 10000-100, OPC 40530, OPC 30050,
OPC 40010-1); `tests/opcua/test_conformance.py` checks them against the official nodesets.
"""

from __future__ import annotations

from factory_sim.states import LaserState, MachineryItemState, MachineryOperationMode, PackMLState

# --- OPC 10000-100 Devices (DI) ---
DI_TOPOLOGY_ELEMENT_TYPE = 1001
DI_FUNCTIONAL_GROUP_TYPE = 1005
DI_COMPONENT_TYPE = 15063

# --- OPC 40001-1 Machinery ---
MACHINES = 1001
MACHINERY_ITEM_IDENTIFICATION_TYPE = 1004
MACHINE_IDENTIFICATION_TYPE = 1012
MACHINERY_OPERATION_COUNTER_TYPE = 1009
MACHINERY_ITEM_STATE_TYPE = 1002
MACHINERY_OPERATION_MODE_TYPE = 1008

#: state -> (state object id, StateNumber property id)
MACHINERY_ITEM_STATES: dict[MachineryItemState, tuple[int, int]] = {
    MachineryItemState.OUT_OF_SERVICE: (5004, 6038),
    MachineryItemState.NOT_AVAILABLE: (5005, 6039),
    MachineryItemState.EXECUTING: (5006, 6040),
    MachineryItemState.NOT_EXECUTING: (5007, 6041),
}
MACHINERY_ITEM_STATE_NAMES = {
    MachineryItemState.OUT_OF_SERVICE: "OutOfService",
    MachineryItemState.NOT_AVAILABLE: "NotAvailable",
    MachineryItemState.EXECUTING: "Executing",
    MachineryItemState.NOT_EXECUTING: "NotExecuting",
}
OPERATION_MODES: dict[MachineryOperationMode, tuple[int, int]] = {
    MachineryOperationMode.NONE: (5024, 6059),
    MachineryOperationMode.MAINTENANCE: (5025, 6060),
    MachineryOperationMode.PROCESSING: (5026, 6061),
    MachineryOperationMode.SETUP: (5027, 6062),
}
OPERATION_MODE_NAMES = {
    MachineryOperationMode.NONE: "None",
    MachineryOperationMode.MAINTENANCE: "Maintenance",
    MachineryOperationMode.PROCESSING: "Processing",
    MachineryOperationMode.SETUP: "Setup",
}

# --- OPC 40530 LaserSystems ---
LASER_SYSTEM_STATE_TYPE = 1009
#: state -> (BrowseName, state object id, StateNumber property id, StateNumber value)
LASER_STATES: dict[LaserState, tuple[str, int, int, int]] = {
    LaserState.OFF: ("Off", 5028, 6080, 0),
    LaserState.ENERGY_SAVING: ("EnergySaving", 5029, 6081, 1),
    LaserState.IDLE: ("Idle", 5030, 6082, 2),
    LaserState.SETUP: ("SetUp", 5031, 6083, 3),
    LaserState.LASER_READY: ("LaserReady", 5032, 6084, 4),
    LaserState.MAINTENANCE: ("Maintenance", 5033, 6085, 5),
    LaserState.ERROR: ("Error", 5034, 6086, 6),
    LaserState.LASER_ON: ("LaserOn", 5035, 6087, 7),
}

# --- OPC 30050 PackML ---
PACKML_EXECUTE_STATE_MACHINE_TYPE = 1
PACKML_MACHINE_STATE_MACHINE_TYPE = 2
PACKML_BASE_STATE_MACHINE_TYPE = 3
PACKML_STATE_CLEARED = (71, 178, 19)  # superstate of MachineState, in the base machine
PACKML_STATE_RUNNING = (75, 171, 18)  # superstate of ExecuteState, in the machine state
#: state -> (owning state machine type, state object id, StateNumber property id)
PACKML_STATES: dict[PackMLState, tuple[int, int, int]] = {
    PackMLState.RESETTING: (1, 27, 127),
    PackMLState.IDLE: (1, 28, 128),
    PackMLState.STARTING: (1, 29, 129),
    PackMLState.SUSPENDING: (1, 30, 130),
    PackMLState.SUSPENDED: (1, 31, 131),
    PackMLState.UNSUSPENDING: (1, 32, 132),
    PackMLState.HOLDING: (1, 33, 133),
    PackMLState.HELD: (1, 34, 134),
    PackMLState.UNHOLDING: (1, 35, 135),
    PackMLState.EXECUTE: (1, 36, 136),
    PackMLState.COMPLETING: (1, 37, 137),
    PackMLState.COMPLETE: (1, 38, 138),
    PackMLState.STOPPED: (2, 53, 155),
    PackMLState.STOPPING: (2, 54, 156),
    PackMLState.CLEARING: (2, 55, 157),
    PackMLState.ABORTING: (3, 61, 168),
    PackMLState.ABORTED: (3, 62, 169),
}


def packml_state_name(state: PackMLState) -> str:
    """The spec's BrowseName of a PackML state (e.g. EXECUTE -> "Execute")."""
    return state.name.capitalize()


# --- OPC 40010-1 Robotics ---
ROBOTICS_SAFETY_STATE_TYPE = 1013
ROBOTICS_OPERATIONAL_MODE_ENUMERATION = 3006
