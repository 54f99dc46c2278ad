"""Job Management (OPC 40001-3) over TCP: every method with good and bad arguments, in every
job order state, for an operator and a viewer; a job order that runs in the simulated plant
with the model's counts; a status event for every transition. Real server, asyncua clients."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from asyncua import Client, ua

from factory_sim import events as ev
from factory_sim.job_orders import MAX_DOWNLOADABLE
from opcua_server.security import SecuritySettings
from opcua_server.types import jobs
from opcua_server.types.jobs import STRUCTURES
from opcua_server.users import Role, add_user
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

CELL = "press-brake"
VARIANT = "bracket"
NAS, ATS, RUN, INT, END, ABO = range(1, 7)
NAMES = jobs.JOB_ORDER_STATE_NAMES
#: method -> the states it accepts (OPC 10031-4's state machine)
ACCEPTS = {
    "Start": {NAS}, "RevokeStart": {ATS}, "Cancel": {NAS, ATS}, "Update": {NAS, ATS},
    "Pause": {RUN}, "Resume": {INT}, "Stop": {RUN, INT}, "Abort": {NAS, ATS, RUN, INT},
    "Clear": {END, ABO},
}
PASSWORDS = {"otto": "operator-password-1", "vera": "viewer-password-1"}


def job_order(job_id: str, variant: str = VARIANT, runs=3, program: str = "bend-7"):
    parameter = STRUCTURES["ISA95ParameterDataType"]
    runs_value = runs if isinstance(runs, ua.Variant) else ua.Variant(runs, ua.VariantType.UInt32)
    return STRUCTURES["ISA95JobOrderDataType"](
        JobOrderID=job_id,
        WorkMasterID=[STRUCTURES["ISA95WorkMasterDataType"](
            ID=program, Parameters=[parameter(ID="Version", Value=ua.Variant("2"))])],
        JobOrderParameters=[parameter(ID="RunsPlanned", Value=runs_value)],
        MaterialRequirements=[STRUCTURES["ISA95MaterialDataType"](MaterialDefinitionID=variant)])


NO_COMMENT = ua.Variant([], ua.VariantType.LocalizedText, is_array=True)


class JobManagementClient:
    """One machine's JobOrderControl and JobOrderResults, as a client calls them."""

    def __init__(self, client: Client, plant_ns: int, cell: str = CELL) -> None:
        self.client, self.ns = client, plant_ns
        self.base = f"{cell}/MachineryBuildingBlocks/JobManagement"

    def node(self, path: str):
        return self.client.get_node(ua.NodeId(f"{self.base}/{path}", self.ns))

    async def call(self, name: str, *args) -> ua.CallMethodResult:
        """The raw Call result (status, argument results, outputs)."""
        parent = "JobOrderResults" if name.startswith("Request") else "JobOrderControl"
        request = ua.CallMethodRequest(
            ObjectId=self.node(parent).nodeid, MethodId=self.node(f"{parent}/{name}").nodeid,
            InputArguments=[a if isinstance(a, ua.Variant) else ua.Variant(a) for a in args])
        return (await self.client.uaclient.call([request]))[0]

    async def command(self, name: str, job_id: str) -> ua.StatusCode:
        return (await self.call(name, ua.Variant(job_id, ua.VariantType.String),
                                NO_COMMENT)).StatusCode

    async def store(self, job_id: str, start: bool = False, **kwargs) -> ua.StatusCode:
        name = "StoreAndStart" if start else "Store"
        return (await self.call(name, ua.Variant(job_order(job_id, **kwargs)),
                                NO_COMMENT)).StatusCode

    async def response(self, job_id: str):
        result = await self.call("RequestJobResponseByJobOrderID",
                                 ua.Variant(job_id, ua.VariantType.String))
        result.StatusCode.check()
        return result.OutputArguments[0].Value

    async def state(self, job_id: str) -> int | None:
        """The job order's StateNumber; None if the cell has no such job order."""
        result = await self.call("RequestJobResponseByJobOrderID",
                                 ua.Variant(job_id, ua.VariantType.String))
        if result.StatusCode.value == ua.StatusCodes.BadNotFound:
            return None
        result.StatusCode.check()
        return result.OutputArguments[0].Value.JobState[0].StateNumber


def data(response) -> dict:
    return {p.ID: p.Value.Value for p in response.JobResponseData}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served():
    plant = make_plant()
    parts: list[ev.PartFinished] = []
    plant.subscribe(lambda e: parts.append(e) if isinstance(e, ev.PartFinished) else None)
    server = await start_plant_server(plant)
    async with Client(server.endpoint, timeout=10) as client:
        yield server, client, parts
    await server.stop()


@pytest.fixture
def job_client(served):
    server, client, _ = served
    return JobManagementClient(client, server.ns.plant)


@pytest.fixture
def simulation(served):
    server, client, _ = served
    return Simulation(client, server.ns.plant)


async def until(simulation, job_client, job_id, state, step=600.0, limit=40):
    for _ in range(limit):
        if await job_client.state(job_id) == state:
            return
        await simulation.step(step)
    raise AssertionError(f"{job_id} never became {NAMES[state]}")


# ---- the nodes ----

async def test_every_opcua_cell_has_job_management(served):
    server, client, _ = served
    for cell in server.machines:
        jm = JobManagementClient(client, server.ns.plant, cell)
        node = jm.node("JobOrderControl")
        assert (await node.read_type_definition()) == ua.NodeId(
            jobs.JOB_ORDER_RECEIVER_TYPE, server.ns.isa95)
        assert await jm.node("JobOrderControl/MaxDownloadableJobOrders").read_value() \
            == MAX_DOWNLOADABLE
        variants = await jm.node("JobOrderControl/MaterialDefinitionID").read_value()
        assert variants and all(isinstance(v, str) for v in variants)
        assert (await jm.node("JobOrderResults").read_type_definition()) == ua.NodeId(
            jobs.JOB_RESPONSE_PROVIDER_TYPE, server.ns.isa95)


# ---- a job order that runs ----

async def test_a_stored_job_runs_and_its_response_counts_are_the_models(served, job_client,
                                                                         simulation):
    _, _, parts = served
    assert await job_client.store("RUN-1", start=True, runs=4) == ua.StatusCode(0)
    listed = await job_client.node("JobOrderControl/JobOrderList").read_value()
    assert any(e.JobOrder.JobOrderID == "RUN-1" for e in listed)
    await until(simulation, job_client, "RUN-1", END, step=1800)
    response = await job_client.response("RUN-1")
    mine = [p for p in parts if p.order_id == "RUN-1" and p.cell == CELL]
    good = sum(p.outcome is ev.PartOutcome.GOOD for p in mine)
    scrap = sum(p.outcome is ev.PartOutcome.SCRAP for p in mine)
    values = data(response)
    assert (values["RunsCompleted"], values["ScrapCount"]) == (good, scrap) and good == 4
    assert values["JobResult"] == jobs.JOB_RESULT_SUCCESSFUL
    produced = {m.MaterialUse: int(m.Quantity) for m in response.MaterialActuals}
    assert produced == {"Produced": good, "Scrap": scrap}
    times = {p.ID: p.Value.Value for p in values["OutputPerformanceInfo"].Parameters}
    assert times["ProducingTime"] > 0 and response.EndTime > response.StartTime
    by_state = await job_client.call("RequestJobResponseByJobOrderState", ua.Variant(
        [STRUCTURES["ISA95StateDataType"](BrowsePath=ua.RelativePath(Elements=[]),
                                          StateText=ua.LocalizedText("Ended"), StateNumber=END)],
        ua.VariantType.ExtensionObject, is_array=True))
    assert "RUN-1" in {r.JobOrderID for r in by_state.OutputArguments[0].Value}
    assert (await job_client.command("Clear", "RUN-1")).is_good()


async def test_events_arrive_for_every_transition(served, job_client, simulation):
    server, client, _ = served

    class Collect:
        def __init__(self):
            self.events = []

        def event_notification(self, event):
            self.events.append(event)

    handler = Collect()
    subscription = await client.create_subscription(50, handler)
    event_type = client.get_node(ua.NodeId(jobs.JOB_ORDER_STATUS_EVENT_TYPE, server.ns.isa95))
    await subscription.subscribe_events(
        client.get_node(ua.NodeId(CELL, server.ns.plant)), event_type)
    assert (await job_client.store("EV-1", runs=300)).is_good()
    assert (await job_client.command("Start", "EV-1")).is_good()
    await until(simulation, job_client, "EV-1", RUN)
    await simulation.step(1800)
    for command in ("Pause", "Resume", "Stop"):
        assert (await job_client.command(command, "EV-1")).is_good()
        await simulation.step(60)
    await until(simulation, job_client, "EV-1", END)
    seen = []
    for _ in range(50):
        seen = [e.JobState[0].StateNumber for e in handler.events
                if e.JobOrder.JobOrderID == "EV-1"]
        if seen[-1:] == [END]:
            break
        await asyncio.sleep(0.1)
    await subscription.delete()
    deduped = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    assert deduped == [NAS, ATS, RUN, INT, RUN, END]
    assert (await job_client.command("Clear", "EV-1")).is_good()


# ---- every method in every state ----

class States:
    """Puts job orders of the cell into each state: a long 'runner' job holds the cell."""

    def __init__(self, job_client, simulation):
        self.jc, self.sim = job_client, simulation
        self.count = 0
        self.runner: str | None = None

    def new_id(self) -> str:
        self.count += 1
        return f"S-{self.count}"

    async def running(self) -> str:
        if self.runner is None or await self.jc.state(self.runner) not in (RUN, INT):
            self.runner = self.new_id()
            assert (await self.jc.store(self.runner, start=True, runs=5000)).is_good()
            await until(self.sim, self.jc, self.runner, RUN)
        if await self.jc.state(self.runner) == INT:
            assert (await self.jc.command("Resume", self.runner)).is_good()
        return self.runner

    async def make(self, state: int) -> str:
        if state in (RUN, INT):
            runner = await self.running()
            if state == INT:
                assert (await self.jc.command("Pause", runner)).is_good()
            return runner
        if state == ATS:  # the cell is held by the paused runner: the job order waits
            runner = await self.running()
            assert (await self.jc.command("Pause", runner)).is_good()
        job_id = self.new_id()
        assert (await self.jc.store(job_id, start=state == ATS)).is_good()
        if state == END:
            await self.jc.command("Stop", await self.running())
            return self.runner
        if state == ABO:
            assert (await self.jc.command("Abort", job_id)).is_good()
        return job_id

    async def tidy(self) -> None:
        """Leave no waiting job order behind (MaxDownloadableJobOrders, the held cell)."""
        listed = await self.jc.node("JobOrderControl/JobOrderList").read_value()
        for entry in listed:
            job_id, state = entry.JobOrder.JobOrderID, entry.State[0].StateNumber
            if job_id.startswith("S-") and job_id != self.runner:
                if state in (NAS, ATS):
                    await self.jc.command("Cancel", job_id)
                elif state in (END, ABO):
                    await self.jc.command("Clear", job_id)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def states(served):
    server, client, _ = served
    return States(JobManagementClient(client, server.ns.plant),
                  Simulation(client, server.ns.plant))


@pytest.mark.parametrize("state", [NAS, ATS, RUN, INT, END, ABO], ids=NAMES.get)
@pytest.mark.parametrize("method", sorted(ACCEPTS))
async def test_every_command_in_every_state(states, method, state):
    job_id = await states.make(state)
    if method == "Update":
        status = (await states.jc.call("Update", ua.Variant(job_order(job_id, runs=7)),
                                       NO_COMMENT)).StatusCode
    else:
        status = await states.jc.command(method, job_id)
    if state in ACCEPTS[method]:
        assert status.is_good(), f"{method} in {NAMES[state]}: {status}"
    else:
        assert status.value == ua.StatusCodes.BadInvalidState, \
            f"{method} in {NAMES[state]}: {status}"
    await states.tidy()


@pytest.mark.parametrize("method", sorted(ACCEPTS))
async def test_an_unknown_job_order_is_not_found(job_client, method):
    if method == "Update":
        status = (await job_client.call("Update", ua.Variant(job_order("no-such-job")),
                                        NO_COMMENT)).StatusCode
    else:
        status = await job_client.command(method, "no-such-job")
    assert status.value == ua.StatusCodes.BadNotFound
    result = await job_client.call("RequestJobResponseByJobOrderID",
                                   ua.Variant("no-such-job", ua.VariantType.String))
    assert result.StatusCode.value == ua.StatusCodes.BadNotFound


# ---- bad arguments ----

ALL_METHODS = [*jobs.RECEIVER_METHODS, *jobs.PROVIDER_METHODS]


@pytest.mark.parametrize("method", ALL_METHODS)
async def test_wrong_argument_types_and_counts(job_client, method):
    arity = 1 if method.startswith("Request") else 2
    missing = await job_client.call(method)
    assert missing.StatusCode.value == ua.StatusCodes.BadArgumentsMissing
    extra = await job_client.call(method, *[ua.Variant(1, ua.VariantType.Int32)] * (arity + 1))
    assert extra.StatusCode.value == ua.StatusCodes.BadTooManyArguments
    wrong = await job_client.call(method, *[ua.Variant(1.5, ua.VariantType.Double)] * arity)
    assert wrong.StatusCode.value == ua.StatusCodes.BadInvalidArgument
    assert wrong.InputArgumentResults[0].value == ua.StatusCodes.BadTypeMismatch


@pytest.mark.parametrize("bad, why", [
    (job_order("B-1", variant="no-such-variant"), "unknown variant"),
    (job_order("B-2", runs=0), "no runs"),
    (job_order("B-3", runs=ua.Variant("many")), "RunsPlanned not an integer"),
    (job_order("x" * 65), "JobOrderID too long"),
    (STRUCTURES["ISA95JobOrderDataType"](JobOrderID="B-4"), "no material"),
])
async def test_a_job_order_the_cell_cannot_take_is_an_invalid_argument(job_client, bad, why):
    result = await job_client.call("Store", ua.Variant(bad), NO_COMMENT)
    assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument, why
    listed = await job_client.node("JobOrderControl/JobOrderList").read_value()
    assert all(e.JobOrder.JobOrderID != bad.JobOrderID for e in listed)


async def test_a_comment_must_be_localized_texts(job_client):
    result = await job_client.call("Start", ua.Variant("x", ua.VariantType.String),
                                   ua.Variant(["plain"], ua.VariantType.String, is_array=True))
    assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
    assert result.InputArgumentResults[1].value == ua.StatusCodes.BadTypeMismatch


async def test_a_duplicate_job_order_id_is_refused(job_client):
    assert (await job_client.store("DUP")).is_good()
    assert (await job_client.store("DUP")).value == ua.StatusCodes.BadInvalidArgument
    assert (await job_client.command("Cancel", "DUP")).is_good()


async def test_max_downloadable_job_orders_is_enforced(job_client, states):
    await states.tidy()
    listed = await job_client.node("JobOrderControl/JobOrderList").read_value()
    waiting = sum(1 for e in listed if not e.JobOrder.JobOrderID.endswith(f"/{CELL}")
                  and e.State[0].StateNumber not in (END, ABO))
    ids = [f"MAX-{n}" for n in range(MAX_DOWNLOADABLE - waiting)]
    for job_id in ids:
        assert (await job_client.store(job_id)).is_good()
    assert (await job_client.store("MAX-over")).value == ua.StatusCodes.BadInvalidState
    for job_id in ids:
        assert (await job_client.command("Cancel", job_id)).is_good()
    assert (await job_client.store("MAX-fits")).is_good()
    assert (await job_client.command("Cancel", "MAX-fits")).is_good()


# ---- roles ----

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secured(tmp_path_factory):
    base = tmp_path_factory.mktemp("job-roles")
    users = base / "users.yaml"
    add_user(users, "otto", Role.OPERATOR, PASSWORDS["otto"])
    add_user(users, "vera", Role.VIEWER, PASSWORDS["vera"])
    server = await start_plant_server(make_plant(), security=SecuritySettings(
        state_dir=base / "state", users_file=users, accept_any_client_certificate=True))
    yield server
    await server.stop()


def login(server, user: str) -> Client:
    client = Client(server.endpoint, timeout=10)
    client.set_user(user)
    client.set_password(PASSWORDS[user])
    return client


@pytest.mark.parametrize("method", ALL_METHODS)
async def test_a_viewer_may_only_read_responses(secured, method):
    async with login(secured, "otto") as operator:
        otto = JobManagementClient(operator, secured.ns.plant)
        await otto.store("ROLE-1")
    async with login(secured, "vera") as viewer:
        vera = JobManagementClient(viewer, secured.ns.plant)
        if method.startswith("Request"):
            assert (await vera.response("ROLE-1")).JobOrderID == "ROLE-1"
            return
        args = ([ua.Variant(job_order("ROLE-2"))] if method in ("Store", "StoreAndStart",
                                                               "Update")
                else [ua.Variant("ROLE-1", ua.VariantType.String)])
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await vera.call(method, *args, NO_COMMENT)
        assert await vera.state("ROLE-1") == NAS


async def test_an_operator_dispatches(secured):
    async with login(secured, "otto") as operator:
        otto = JobManagementClient(operator, secured.ns.plant)
        assert (await otto.store("ROLE-3")).is_good()
        assert (await otto.command("Start", "ROLE-3")).is_good()
        assert await otto.state("ROLE-3") in (ATS, RUN)


# ---- JobOrderList's refresh while the plant runs ----

class _Changes:
    def __init__(self) -> None:
        self.count = 0

    def datachange_notification(self, node, value, data) -> None:
        self.count += 1


async def test_job_order_list_is_refreshed_once_per_interval_while_running_at_once_after_a_call():
    plant = make_plant()
    changes: list[ev.JobOrderChanged] = []
    plant.subscribe(lambda e: changes.append(e)
                    if isinstance(e, ev.JobOrderChanged) and e.cell == CELL else None)
    server = await start_plant_server(plant, paused=False, speed=20000.0,
                                      job_list_interval_s=0.5)
    try:
        async with Client(server.endpoint, timeout=10) as client:
            jc = JobManagementClient(client, server.ns.plant)
            node = jc.node("JobOrderControl/JobOrderList")
            sampling = await node.read_attribute(ua.AttributeIds.MinimumSamplingInterval)
            assert sampling.Value.Value == 500.0
            assert (await jc.store("LIST-1")).is_good()  # listed at once, though running
            assert "LIST-1" in {e.JobOrder.JobOrderID for e in await node.read_value()}
            handler = _Changes()
            subscription = await client.create_subscription(50, handler)
            await subscription.subscribe_data_change(node, queuesize=100)
            changed_before = len(changes)
            await asyncio.sleep(2.0)
            refreshed, changed = handler.count, len(changes) - changed_before
            await subscription.delete()
    finally:
        await server.stop()
    # the plant changed this cell's job orders more often than the list may be refreshed:
    # the initial value, then at most one refresh per 0.5 s
    assert changed > 2.0 / 0.5 + 2
    assert 1 <= refreshed <= 2.0 / 0.5 + 2
