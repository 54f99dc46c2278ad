"""Connectivity levels: OPC UA cells under Machines, vendor cells only in their vendor's
namespace and naming (the coupling barrier), stand-alone cells nowhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import pytest_asyncio
from asyncua import Client, ua

from factory_sim import events as ev
from factory_sim.states import Activity, ConnectivityLevel
from opcua_server import namespaces
from opcua_server.node_batch import NodeBatch
from opcua_server.vendor import DIALECTS, VendorMachine, dialect_for
from opcua_server.writes import Writes
from tests.opcua.conftest import Simulation, make_plant, start_plant_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mixed():
    server = await start_plant_server(make_plant("mixed"))
    async with Client(server.endpoint, timeout=10) as client:
        await Simulation(client, server.ns.plant).step(8 * 3600)
        yield server, client
    await server.stop()


async def walk(node, seen=None) -> dict[ua.NodeId, str]:
    """Every node below `node` by hierarchical references, with its BrowseName."""
    seen = {} if seen is None else seen
    for child in await node.get_children():
        if child.nodeid in seen or child.nodeid.NamespaceIndex == 0:
            continue
        seen[child.nodeid] = (await child.read_browse_name()).Name
        await walk(child, seen)
    return seen


async def test_levels_decide_where_a_cell_appears(mixed):
    server, client = mixed
    levels = {cell.id: cell.connectivity for cell in server.plant.cells.values()}
    assert set(levels.values()) == {ConnectivityLevel.OPCUA, ConnectivityLevel.VENDOR,
                                    ConnectivityLevel.STANDALONE}
    uris = await client.get_namespace_array()
    machines = client.get_node(ua.NodeId(1001, uris.index(namespaces.MACHINERY)))
    listed = {(await m.read_browse_name()).Name for m in await machines.get_children()}
    assert listed == {c for c, level in levels.items() if level == ConnectivityLevel.OPCUA}

    everything = await walk(client.nodes.objects)
    for cell in server.plant.cells.values():
        serial_seen = cell.serial_number in everything.values()
        if cell.connectivity == ConnectivityLevel.STANDALONE:
            assert not serial_seen and cell.id not in everything.values(), cell.id
            assert cell.id not in [n.Identifier for n in everything]
        elif cell.connectivity == ConnectivityLevel.VENDOR:
            dialect = dialect_for(cell.vendor)
            vendor_ns = uris.index(dialect.uri)
            nodes = [n for n, name in everything.items() if name == cell.serial_number]
            assert [n.NamespaceIndex for n in nodes] == [vendor_ns], cell.id
            # no Machinery building blocks, no companion-spec names: the vendor's own
            below = await walk(client.get_node(nodes[0]))
            # a mapped cell: and its vendor's job import, which the plant's adapter maps
            job_import = ({dialect.job_import, "InputArguments", dialect.job_list}
                          if cell.mapped else set())
            assert set(below.values()) == {dialect.state, dialect.power, dialect.energy,
                                           dialect.good, dialect.scrap, dialect.order,
                                           dialect.alarm, *job_import}
            assert {n.NamespaceIndex for n in below} == {vendor_ns}


async def test_vendor_values_use_the_vendor_units_and_codes(mixed):
    server, client = mixed
    for cell_id, vendor in server.vendor_machines.items():
        snapshot = server.plant.snapshot(cell_id)
        dialect = vendor.dialect
        state = await client.get_node(vendor.vars["state"]).read_value()
        assert state == dialect.state_codes[snapshot.activity]
        power = await client.get_node(vendor.vars["power"]).read_value()
        assert power == pytest.approx(snapshot.power_kw * dialect.power_factor)
        good = await client.get_node(vendor.vars["good"]).read_value()
        assert good == snapshot.good


async def test_every_vendor_dialect_codes_every_activity():
    for dialect in [*DIALECTS.values(), dialect_for("acme-robots")]:
        assert set(dialect.state_codes) == set(Activity)
        assert len(set(dialect.state_codes.values())) >= 8
    assert dialect_for("acme-robots").uri == "urn:acme-robots:opcua:devices"


async def test_lasertec_speaks_german_codes_and_watts():
    """The punch/laser's vendor (reference-vendor scenario) has its own dialect."""
    plant = make_plant("reference-vendor")
    laser = next(c for c in plant.cells.values() if c.vendor == "lasertec")
    assert laser.connectivity == ConnectivityLevel.VENDOR
    machine = VendorMachine(laser, dialect_for("lasertec"), ns=5)
    machine.build(NodeBatch())
    writes = Writes(datetime(2026, 1, 5, tzinfo=UTC))
    machine.apply(ev.StateChanged(10.0, laser.id, Activity.PRODUCING, 35.0, 1.5), writes)
    values = {nodeid.Identifier.rsplit("/", 1)[1]: dv.Value.Value for nodeid, dv in writes.values}
    assert values == {"BetriebsZustand": 10, "Leistung_W": 35_000.0, "Energie_Wh": 1500.0}
    assert machine.node.Identifier == f"LASERTEC/{laser.serial_number}"


async def call(client: Client, machine: ua.NodeId, method: ua.NodeId,
               *arguments: ua.Variant) -> ua.CallMethodResult:
    (result,) = await client.uaclient.call([ua.CallMethodRequest(
        ObjectId=machine, MethodId=method, InputArguments=list(arguments))])
    return result


def job(job_no: object = "J-1", program: object = "bracket.press-brake", quantity: object = 5,
        ) -> list[ua.Variant]:
    return [ua.Variant(job_no, ua.VariantType.String if isinstance(job_no, str)
                       else ua.VariantType.Double),
            ua.Variant(program, ua.VariantType.String),
            ua.Variant(quantity, ua.VariantType.Int32)]


async def test_a_mapped_vendor_cell_imports_jobs_by_its_vendors_own_method(mixed):
    server, client = mixed
    (mapped,) = [v for v in server.vendor_machines.values() if v.cell.mapped]
    unmapped = [v for v in server.vendor_machines.values() if not v.cell.mapped]
    assert unmapped and all(v.job_import is None for v in unmapped)
    d, machine = mapped.dialect, mapped.node
    method = ua.NodeId(f"{machine.Identifier}/{d.job_import}", machine.NamespaceIndex)
    jobs = client.get_node(ua.NodeId(f"{machine.Identifier}/{d.job_list}",
                                     machine.NamespaceIndex))
    # the office's jobs came by the import, as its adapter maps it
    office = await jobs.read_value()
    assert office and all(entry.split(";")[1].endswith(f".{mapped.cell.name}")
                          and int(entry.split(";")[2]) >= 1 for entry in office), office
    arguments = await client.get_node(ua.NodeId(f"{method.Identifier}.InputArguments",
                                                method.NamespaceIndex)).read_value()
    assert [a.Name for a in arguments] == list(d.job_import_arguments)

    assert (await call(client, machine, method, *job())).StatusCode.is_good()
    assert (await jobs.read_value())[-1] == "J-1;bracket.press-brake;5"
    G = ua.StatusCodes
    refused = {
        "a number for the job": (job(job_no=7.0), [G.BadTypeMismatch, G.Good, G.Good]),
        "no job number": (job(job_no=""), [G.BadOutOfRange, G.Good, G.Good]),
        "a job number too long": (job(job_no="J" * 65), [G.BadOutOfRange, G.Good, G.Good]),
        "a separator": (job(program="a;b"), [G.Good, G.BadOutOfRange, G.Good]),
        "a control character": (job(program="a\nb"), [G.Good, G.BadOutOfRange, G.Good]),
        "no parts": (job(quantity=0), [G.Good, G.Good, G.BadOutOfRange]),
        "too many parts": (job(quantity=10_001), [G.Good, G.Good, G.BadOutOfRange]),
    }
    for why, (arguments, codes) in refused.items():
        result = await call(client, machine, method, *arguments)
        assert result.StatusCode.value == G.BadInvalidArgument, why
        assert [c.value for c in result.InputArgumentResults] == codes, why
    assert (await call(client, machine, method, *job()[:2])).StatusCode.value \
        == G.BadArgumentsMissing
    assert (await call(client, machine, method, *job(), *job()[:1])).StatusCode.value \
        == G.BadTooManyArguments
    # nothing refused was recorded; the list keeps its last 20
    assert (await jobs.read_value())[-1] == "J-1;bracket.press-brake;5"
    for index in range(25):
        assert (await call(client, machine, method, *job(f"K-{index}"))).StatusCode.is_good()
    kept = await jobs.read_value()
    assert len(kept) == 20 and kept[-1] == "K-24;bracket.press-brake;5"


async def test_a_viewer_may_not_import_a_job(tmp_path):
    from opcua_server.security import SecuritySettings
    from opcua_server.users import Role, add_user

    users = tmp_path / "users.yaml"
    add_user(users, "vera", Role.VIEWER, "viewer-password-1")
    add_user(users, "otto", Role.OPERATOR, "operator-password-1")
    server = await start_plant_server(make_plant("mixed"), security=SecuritySettings(
        state_dir=tmp_path / "state", users_file=users, accept_any_client_certificate=True))
    try:
        (mapped,) = [v for v in server.vendor_machines.values() if v.cell.mapped]
        method = ua.NodeId(f"{mapped.node.Identifier}/{mapped.dialect.job_import}",
                           mapped.node.NamespaceIndex)
        for user, password, expected in (("vera", "viewer-password-1",
                                          ua.StatusCodes.BadUserAccessDenied),
                                         ("otto", "operator-password-1", ua.StatusCodes.Good)):
            client = Client(server.endpoint, timeout=10)
            client.set_user(user)
            client.set_password(password)
            async with client:
                try:
                    status = (await call(client, mapped.node, method, *job())).StatusCode.value
                except ua.UaStatusCodeError as exc:  # refused for the whole request
                    status = exc.code
            assert status == expected, user
    finally:
        await server.stop()
