"""Job orders and their responses as the ISA-95 job control structures carry them.

A job order (`ISA95JobOrderDataType`) names, for a cell of this plant:

- `JobOrderID`: 1..64 printable characters, unique on the cell;
- the material to make: `MaterialRequirements[0].MaterialDefinitionID`, a product variant;
- how many: the job order parameter `RunsPlanned` (an integer), or else
  `MaterialRequirements[0].Quantity`;
- the program: `WorkMasterID[0].ID`, its version the work master parameter `Version`;
- optionally `EndTime`, the due date the cell's dispatching sees.

The response (`ISA95JobResponseDataType`) carries the state, the start and end times, the
parts made as `MaterialActuals` (MaterialUse "Produced" and "Scrap", Quantity) and, as
`JobResponseData`, `RunsPlanned`, `RunsCompleted` (good parts), `ScrapCount`, `JobResult`
(Machinery Jobs' enumeration), `OutputInformation` and `OutputPerformanceInfo` (seconds per
state of the cell's time accounting while the job order ran).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from asyncua import ua

from factory_sim.job_orders import InvalidJobOrder, JobOrder, JobOrderRequest
from factory_sim.states import Activity, JobOrderState
from opcua_server.types import jobs
from opcua_server.types.jobs import STRUCTURES

MAX_ENTRIES = 32  # entries of any array of a job order a client sends
_INTEGERS = {ua.VariantType.Byte, ua.VariantType.SByte, ua.VariantType.Int16,
             ua.VariantType.UInt16, ua.VariantType.Int32, ua.VariantType.UInt32,
             ua.VariantType.Int64, ua.VariantType.UInt64}
#: what the response's OutputPerformanceInfo reports, in seconds
_TIMES = {"ProducingTime": (Activity.PRODUCING,), "SetupTime": (Activity.SETUP,),
          "DownTime": (Activity.FAILED, Activity.REPAIR, Activity.MAINTENANCE),
          "StoppedTime": (Activity.STOPPED, Activity.SHORT_STOP),
          "WaitingTime": (Activity.WAITING_OPERATOR, Activity.STARVED, Activity.BLOCKED),
          "BreakTime": (Activity.BREAK, Activity.OFF_SHIFT)}


def state_value(state: JobOrderState) -> list:
    """A job order state as the spec's JobState array (top-level state only)."""
    return [STRUCTURES["ISA95StateDataType"](
        BrowsePath=ua.RelativePath(Elements=[]),
        StateText=ua.LocalizedText(jobs.JOB_ORDER_STATE_NAMES[int(state)]),
        StateNumber=int(state))]


def _parameter(name: str, variant: ua.Variant):
    return STRUCTURES["ISA95ParameterDataType"](ID=name, Value=variant)


def _uint(value: int) -> ua.Variant:
    return ua.Variant(int(value), ua.VariantType.UInt32)

MAX_KEPT_JOB_ORDERS = 4096  # job order structures kept for reuse, per server


class JobValues:
    """Converts between the model's job orders and the structures, in plant time."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        # the job order structure per request, built once: every status event and the
        # JobOrderList carry the same one (structures are never changed once built)
        self._job_orders: dict[int, tuple[JobOrderRequest, object]] = {}

    def when(self, sim_time: float | None) -> datetime | None:
        if sim_time is None:
            return None
        return self._start + timedelta(seconds=sim_time)

    def request(self, job_order) -> JobOrderRequest:
        """The model's request from a client's `ISA95JobOrderDataType`; InvalidJobOrder names
        the field that is wrong."""
        for name in ("Description", "WorkMasterID", "JobOrderParameters",
                     "PersonnelRequirements", "EquipmentRequirements",
                     "PhysicalAssetRequirements", "MaterialRequirements"):
            if len(getattr(job_order, name) or ()) > MAX_ENTRIES:
                raise InvalidJobOrder(name, f"{name}: at most {MAX_ENTRIES} entries")
        if not isinstance(job_order.JobOrderID, str):
            raise InvalidJobOrder("JobOrderID", "JobOrderID is missing")
        materials = job_order.MaterialRequirements or []
        if not materials or not isinstance(materials[0].MaterialDefinitionID, str):
            raise InvalidJobOrder("MaterialRequirements", "MaterialRequirements[0]."
                                  "MaterialDefinitionID must name the variant to make")
        runs = self._runs(job_order, materials[0])
        program = version = ""
        if job_order.WorkMasterID:
            master = job_order.WorkMasterID[0]
            program = master.ID if isinstance(master.ID, str) else ""
            for parameter in master.Parameters or []:
                if parameter.ID == "Version" and isinstance(parameter.Value.Value, str):
                    version = parameter.Value.Value
        due = None
        if isinstance(job_order.EndTime, datetime):
            due = (_aware(job_order.EndTime) - _aware(self._start)).total_seconds()
        return JobOrderRequest(job_order.JobOrderID, materials[0].MaterialDefinitionID, runs,
                               program, version, due)

    @staticmethod
    def _runs(job_order, material) -> int:
        for parameter in job_order.JobOrderParameters or []:
            if parameter.ID == "RunsPlanned":
                value = parameter.Value
                if value.VariantType not in _INTEGERS or value.is_array:
                    raise InvalidJobOrder("RunsPlanned", "the parameter RunsPlanned must be "
                                                         "an integer")
                return int(value.Value)
        if isinstance(material.Quantity, str) and material.Quantity.strip().isdigit():
            return int(material.Quantity)
        raise InvalidJobOrder("RunsPlanned", "give RunsPlanned as a job order parameter "
                                             "(or an integer MaterialRequirements[0].Quantity)")

    def job_order(self, order: JobOrder):
        """The job order as the cell holds it (JobOrderList, events)."""
        request = order.request
        known = self._job_orders.get(id(request))
        if known is not None and known[0] is request:
            return known[1]
        if len(self._job_orders) >= MAX_KEPT_JOB_ORDERS:
            self._job_orders.clear()
        structure = self._build_job_order(request)
        self._job_orders[id(request)] = (request, structure)
        return structure

    def _build_job_order(self, request: JobOrderRequest):
        masters = None
        if request.program:
            masters = [STRUCTURES["ISA95WorkMasterDataType"](
                ID=request.program,
                Parameters=[_parameter("Version", ua.Variant(request.program_version,
                                                             ua.VariantType.String))])]
        return STRUCTURES["ISA95JobOrderDataType"](
            JobOrderID=request.id, WorkMasterID=masters, EndTime=self.when(request.due),
            JobOrderParameters=[_parameter("RunsPlanned", _uint(request.runs_planned))],
            MaterialRequirements=[STRUCTURES["ISA95MaterialDataType"](
                MaterialDefinitionID=request.variant, MaterialUse="Produced",
                Quantity=str(request.runs_planned))])

    def job_order_and_state(self, order: JobOrder):
        return STRUCTURES["ISA95JobOrderAndStateDataType"](
            JobOrder=self.job_order(order), State=state_value(order.state))

    def response(self, order: JobOrder):
        """The job response: counts and times from the model."""
        request = order.request
        identification = STRUCTURES["OutputInformationDataType"](
            ItemNumber=request.variant, OutputInfo=jobs.OUTPUT_INFO_ORDER_NUMBER,
            OrderNumber=request.id)
        times = [_parameter(name, ua.Variant(sum(order.times.get(a, 0.0) for a in activities),
                                             ua.VariantType.Double))
                 for name, activities in _TIMES.items()]
        performance = STRUCTURES["OutputPerformanceInfoDataType"](
            Identification=identification, StartTime=self.when(order.started_at),
            EndTime=self.when(order.ended_at), Parameters=times)
        material = STRUCTURES["ISA95MaterialDataType"]
        return STRUCTURES["ISA95JobResponseDataType"](
            JobResponseID=f"{request.id}/response", JobOrderID=request.id,
            StartTime=self.when(order.started_at), EndTime=self.when(order.ended_at),
            JobState=state_value(order.state),
            JobResponseData=[
                _parameter("RunsPlanned", _uint(request.runs_planned)),
                _parameter("RunsCompleted", _uint(order.good)),
                _parameter("ScrapCount", _uint(order.scrap)),
                _parameter("JobResult", ua.Variant(_result(order), ua.VariantType.Int32)),
                _parameter("OutputInformation", ua.Variant(identification)),
                _parameter("OutputPerformanceInfo", ua.Variant(performance)),
            ],
            MaterialActuals=[
                material(MaterialDefinitionID=request.variant, MaterialUse="Produced",
                         Quantity=str(order.good)),
                material(MaterialDefinitionID=request.variant, MaterialUse="Scrap",
                         Quantity=str(order.scrap)),
            ])


def _result(order: JobOrder) -> int:
    if order.state is JobOrderState.ENDED:
        return (jobs.JOB_RESULT_SUCCESSFUL if order.good >= order.request.runs_planned
                else jobs.JOB_RESULT_UNSUCCESSFUL)
    if order.state is JobOrderState.ABORTED:
        return jobs.JOB_RESULT_UNSUCCESSFUL
    return jobs.JOB_RESULT_UNKNOWN


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
