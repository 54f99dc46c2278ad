"""Job orders in the model: the plant's office and a client dispatch through the same book."""

from __future__ import annotations

import pytest

from factory_sim import events as ev
from factory_sim.job_orders import (
    MAX_DOWNLOADABLE,
    InvalidJobOrder,
    JobOrderNotAllowed,
    JobOrderRequest,
    UnknownJobOrder,
)
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario
from factory_sim.shipped import shipped_scenarios_dir
from factory_sim.states import Activity, JobOrderState

S = JobOrderState
SCENARIOS = shipped_scenarios_dir()
CELL = "press-brake"
DAY = 86400.0


def _plant(name="reference-opcua"):
    plant = Plant(load_scenario(SCENARIOS / f"{name}.yaml"), seed=11)
    changes: list[ev.Event] = []
    plant.subscribe(lambda e: changes.append(e)
                    if isinstance(e, ev.JobOrderChanged | ev.JobOrderRemoved) else None)
    return plant, changes


def _variant(plant, cell=CELL):
    return next(p.name for p in plant.scenario.products if cell in p.cycle)


def _states(changes, job_order_id):
    return [(e.previous, e.state) for e in changes
            if isinstance(e, ev.JobOrderChanged) and e.job_order_id == job_order_id]


def test_a_clients_job_order_runs_and_its_counts_are_the_models():
    plant, changes = _plant()
    book = plant.job_orders(CELL)
    parts = []
    plant.subscribe(lambda e: parts.append(e) if isinstance(e, ev.PartFinished)
                    and e.order_id == "J-1" else None)
    book.store(JobOrderRequest("J-1", _variant(plant), 4, "bend-17", "3"), start=True)
    plant.run(2 * DAY)
    order = book.get("J-1")
    assert order.state is S.ENDED
    good = sum(p.outcome is ev.PartOutcome.GOOD for p in parts)
    scrap = sum(p.outcome is ev.PartOutcome.SCRAP for p in parts)
    assert (order.good, order.scrap) == (good, scrap) and good == 4
    assert order.times[Activity.PRODUCING] > 0
    assert _states(changes, "J-1")[:3] == [(None, S.NOT_ALLOWED_TO_START),
                                           (S.NOT_ALLOWED_TO_START, S.ALLOWED_TO_START),
                                           (S.ALLOWED_TO_START, S.RUNNING)]
    assert _states(changes, "J-1")[-1] == (S.RUNNING, S.ENDED)
    assert all(o.id != "J-1" for o in plant.lines[0].planner.on_floor.values())


def test_the_offices_lots_are_job_orders_that_end_with_the_lots_counts():
    plant, changes = _plant()
    plant.run(3 * DAY)
    ended = [e for e in changes if isinstance(e, ev.JobOrderChanged) and e.state is S.ENDED]
    assert ended, "the plant's own lots end as job orders"
    for event in ended:
        assert event.good + event.scrap >= 1 and event.job_order_id.endswith(f"/{event.cell}")


def test_pause_holds_the_cell_and_resume_goes_on():
    plant, changes = _plant()
    book = plant.job_orders(CELL)
    book.store(JobOrderRequest("J-2", _variant(plant), 200), start=True)
    while book.get("J-2").state is not S.RUNNING or book.get("J-2").good < 2:
        plant.run(plant.now + 600)
    book.pause("J-2")
    plant.run(plant.now + 600)
    held = book.get("J-2").good
    plant.run(plant.now + 4 * 3600)
    assert book.get("J-2").good == held and book.get("J-2").state is S.INTERRUPTED
    book.resume("J-2")
    plant.run(plant.now + DAY)
    assert book.get("J-2").good > held
    assert (S.RUNNING, S.INTERRUPTED) in _states(changes, "J-2")
    assert (S.INTERRUPTED, S.RUNNING) in _states(changes, "J-2")


@pytest.mark.parametrize("command, final", [("stop", S.ENDED), ("abort", S.ABORTED)])
def test_stop_and_abort_end_a_running_job_order_early(command, final):
    plant, _ = _plant()
    book = plant.job_orders(CELL)
    book.store(JobOrderRequest("J-3", _variant(plant), 500), start=True)
    while book.get("J-3").good < 2:
        plant.run(plant.now + 600)
    getattr(book, command)("J-3")
    made = book.get("J-3").good
    plant.run(plant.now + DAY)
    order = book.get("J-3")
    assert order.state is final and made <= order.good <= made + 1 < 500
    book.clear("J-3")
    with pytest.raises(UnknownJobOrder):
        book.get("J-3")


def test_revoke_cancel_update_and_abort_before_the_cell_takes_it():
    plant, changes = _plant()
    plant.stop_cell(CELL)  # the cell takes nothing: job orders stay queued
    book = plant.job_orders(CELL)
    variant = _variant(plant)
    book.store(JobOrderRequest("A", variant, 2), start=True)
    book.revoke_start("A")
    assert book.get("A").state is S.NOT_ALLOWED_TO_START
    book.update(JobOrderRequest("A", variant, 5))
    assert book.get("A").request.runs_planned == 5
    book.start("A")
    book.abort("A")
    assert book.get("A").state is S.ABORTED
    book.store(JobOrderRequest("B", variant, 2), start=True)
    book.cancel("B")
    assert "B" not in book.orders and any(isinstance(e, ev.JobOrderRemoved)
                                          and e.job_order_id == "B" for e in changes)
    plant.start_cell(CELL)
    plant.run(plant.now + 2 * DAY)
    assert all(lot.id not in ("A", "B") for lot in plant._cells[CELL].input.items)


def test_commands_check_the_state_and_the_id():
    plant, _ = _plant()
    book = plant.job_orders(CELL)
    book.store(JobOrderRequest("C", _variant(plant), 2))
    for command in ("pause", "resume", "stop", "clear", "revoke_start"):
        with pytest.raises(JobOrderNotAllowed, match="C"):
            getattr(book, command)("C")
    with pytest.raises(UnknownJobOrder):
        book.start("nope")
    with pytest.raises(InvalidJobOrder, match="exists"):
        book.store(JobOrderRequest("C", _variant(plant), 2))


@pytest.mark.parametrize("request_, field", [
    (JobOrderRequest("", "x", 1), "JobOrderID"),
    (JobOrderRequest("x" * 65, "x", 1), "JobOrderID"),
    (JobOrderRequest("D", "no-such-variant", 1), "MaterialDefinitionID"),
    (JobOrderRequest("D", "VARIANT", 0), "RunsPlanned"),
    (JobOrderRequest("D", "VARIANT", 10_001), "RunsPlanned"),
    (JobOrderRequest("D", "VARIANT", 1, program="a\nb"), "Program"),
])
def test_bad_job_orders_are_refused_naming_the_field(request_, field):
    plant, _ = _plant()
    if request_.variant == "VARIANT":
        request_ = JobOrderRequest(request_.id, _variant(plant), request_.runs_planned,
                                   request_.program)
    with pytest.raises(InvalidJobOrder) as refused:
        plant.job_orders(CELL).store(request_)
    assert refused.value.field == field
    assert plant.job_orders(CELL).orders == {}


def test_max_downloadable_job_orders_is_enforced():
    plant, _ = _plant()
    book = plant.job_orders(CELL)
    for n in range(MAX_DOWNLOADABLE):
        book.store(JobOrderRequest(f"M{n}", _variant(plant), 1))
    with pytest.raises(JobOrderNotAllowed, match="MaxDownloadableJobOrders"):
        book.store(JobOrderRequest("one-too-many", _variant(plant), 1))
    book.cancel("M0")
    book.store(JobOrderRequest("now-fits", _variant(plant), 1))


def test_the_offices_job_orders_take_only_pause_resume_and_clear_from_clients():
    plant, _ = _plant()
    book = plant.job_orders(CELL)
    while not (waiting := [o for o in book.orders.values()
                           if o.by_plant and not o.state.finished]):
        plant.run(plant.now + 600)
    office = waiting[0]
    for command in ("stop", "abort", "cancel"):
        with pytest.raises(JobOrderNotAllowed, match="office"):
            getattr(book, command)(office.id)


def test_a_standalone_cell_has_no_job_orders():
    plant, changes = _plant("reference-standalone")
    plant.run(DAY)
    assert plant.job_orders(CELL) is None and changes == []


def test_a_job_order_cleared_while_its_cell_ends_it_leaves_the_plant():
    plant, _ = _plant()
    book = plant.job_orders(CELL)
    book.store(JobOrderRequest("J-4", _variant(plant), 500), start=True)
    while book.get("J-4").good < 1:
        plant.run(plant.now + 600)
    book.stop("J-4")
    book.clear("J-4")  # the part under way is still being made
    plant.run(plant.now + DAY)
    assert "J-4" not in book.orders
    assert all(o.id != "J-4" for line in plant.lines for o in line.completed)


def test_in_external_dispatch_only_clients_job_orders_release_and_complete_orders():
    plant = Plant(load_scenario(SCENARIOS / "reference-opcua.yaml"), seed=11,
                  external_dispatch=True)
    done: list[ev.OrderCompleted] = []
    plant.subscribe(lambda e: done.append(e) if isinstance(e, ev.OrderCompleted) else None)
    plant.run(DAY)
    assert plant.wip() == (0, 0) and done == []  # the planner released nothing
    order = plant.order_book()[0]
    routing, runs = order.product.routing, order.quantity
    for cell in routing:  # what a MES does: one job order per operation, in turn
        book = plant.job_orders(cell)
        book.store(JobOrderRequest(f"{order.id}/{cell}", order.variant, runs), start=True)
        if cell == routing[0]:
            assert plant.wip()[0] == 1 and order not in plant.order_book()[:-1]
        while book.get(f"{order.id}/{cell}").state is not S.ENDED:
            plant.run(plant.now + 600)
        runs = book.get(f"{order.id}/{cell}").good
    assert [e.order_id for e in done] == [order.id]
    assert done[0].quantity == runs and done[0].quantity + done[0].scrapped == order.quantity
    assert plant.wip() == (0, 0)
