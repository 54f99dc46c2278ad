"""Each way a connectivity level changes what happens, pinned by its direction on a tiny plant.

The tiny plant (tests/cli/tiny_scenario.py): a laser and packing, one shift a day, exact
cycle times. Failures are switched off where they would blur the figure under test.
"""

from __future__ import annotations

import itertools

import pytest

from factory_sim.dispatch import Dispatcher
from factory_sim.events import (
    JobStarted,
    OrderCompleted,
    OrderReleased,
    PartFinished,
    PartOutcome,
    StateChanged,
)
from factory_sim.kpi import KpiAccounting
from factory_sim.orders import Order
from factory_sim.plant import Plant
from factory_sim.scenario import ProductSpec, scenario_from_dict
from factory_sim.states import Activity
from tests.cli.tiny_scenario import tiny

DAY = 86400.0
MINUTE = 60.0


def tiny_plant(level: str, seed: int = 3, mapped: bool = False, failures: bool = False,
               **changes) -> tuple[Plant, list]:
    data = tiny(connectivity=level, **changes)
    for cell in data["cells"]:
        cell["mapped"] = mapped
        if not failures:
            cell["mtbf"] = "100000h"
        cell.setdefault("scrap", 0.0)
        cell["scrap"] = 0.0
    plant = Plant(scenario_from_dict(data), seed=seed)
    events: list = []
    plant.subscribe(events.append)
    return plant, events


def durations_of(events, cell: str, activity: Activity) -> list[float]:
    """How long each spell of `activity` lasted on `cell`."""
    changes = [e for e in events if isinstance(e, StateChanged) and e.cell == cell]
    spells = []
    for before, after in itertools.pairwise(changes):
        if before.activity is activity and after.activity is not activity:
            spells.append(after.time - before.time)
    return spells


# -- job data transfer ---------------------------------------------------------------------

@pytest.mark.parametrize(("level", "mapped", "laser_setup", "packing_setup"), [
    ("standalone", False, 5 + 10, 10),  # the family setup plus the whole transfer by hand
    ("vendor", False, 5 + 10, 10),  # a vendor interface nobody mapped changes nothing
    ("vendor", True, 5 + 4, 4),  # a mapped one removes 60 % of it
    ("opcua", False, 5, None),  # job data by wire: no transfer, packing needs no setup
    ("unified", False, 5, None),
])
def test_manual_job_data_transfer_lengthens_every_change_of_job_by_its_parameter(
        level, mapped, laser_setup, packing_setup):
    plant, events = tiny_plant(level, mapped=mapped, job_data={
        "manual_transfer": "10m", "wrong_parameter": 0.0, "mapped_vendor_removes": 0.6})
    plant.run(3 * DAY)
    laser = durations_of(events, "laser", Activity.SETUP)
    assert len(laser) >= 5
    # Two products of different families: every change of job is a full family setup.
    assert laser == pytest.approx([laser_setup * MINUTE] * len(laser))
    packing = durations_of(events, "packing", Activity.SETUP)
    if packing_setup is None:
        assert packing == []
    else:
        assert len(packing) >= 5
        assert packing == pytest.approx([packing_setup * MINUTE] * len(packing))


@pytest.mark.parametrize(("level", "wrong_first_parts"), [("standalone", True),
                                                           ("opcua", False)])
def test_job_data_by_hand_makes_wrong_first_parts(level, wrong_first_parts):
    plant, events = tiny_plant(level, job_data={"manual_transfer": "1m",
                                                "wrong_parameter": 1.0})
    plant.run(3 * DAY)
    laser = [e for e in events if isinstance(e, JobStarted | PartFinished) and e.cell == "laser"]
    changes = first_parts_scrapped = 0
    variant = None
    for started, first in itertools.pairwise(laser):
        if isinstance(started, JobStarted) and isinstance(first, PartFinished):
            if started.variant != variant:
                changes += 1
                first_parts_scrapped += first.outcome is PartOutcome.SCRAP
            variant = started.variant
    scrapped = sum(1 for e in laser if isinstance(e, PartFinished)
                   and e.outcome is PartOutcome.SCRAP)
    assert changes >= 5
    # Scrap is 0 otherwise: every scrapped part is a wrong first part, and vice versa.
    assert scrapped == first_parts_scrapped == (changes if wrong_first_parts else 0)


# -- CONWIP --------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["standalone", "opcua"])
def test_conwip_cards_come_back_with_the_finished_order_at_every_level(level):
    data = tiny()["orders"]
    orders = {**data, "interarrival": "10m", "backlog": "8h",
              "release": {"rule": "conwip", "wip_cap": 2}}
    plant, events = tiny_plant(level, orders=orders)
    plant.run(2 * DAY)
    released = [e.time for e in events if isinstance(e, OrderReleased)]
    completed = {e.time for e in events if isinstance(e, OrderCompleted)}
    assert len(released) > 10
    # After the first two cards went out, every release is at the moment an order finished.
    assert released[:2] == [0.0, 0.0]
    assert all(t in completed for t in released[2:])
    on_floor = 0
    for event in events:
        on_floor += isinstance(event, OrderReleased) - isinstance(event, OrderCompleted)
        assert on_floor <= 2


# -- dispatch on stale or live knowledge ---------------------------------------------------

def product(name: str, family: str, routing=("laser", "bender", "packing")) -> ProductSpec:
    return ProductSpec(name=name, family=family, routing=list(routing),
                       cycle={cell: 60.0 for cell in routing})


def lot(name: str, prod: ProductSpec, due_h: float, step: int = 0) -> Order:
    return Order(id=name, product=prod, quantity=1, arrived=0.0, due=due_h * 3600.0, step=step)


BOX, FLAT = product("box", "boxes"), product("plate", "flat", routing=("laser", "packing"))


def dispatcher(dispatch="live", sequencing="none", down=(), setup=None):
    return Dispatcher(dispatch=dispatch, sequencing=sequencing, slack=8 * 3600.0,
                      setup=setup or (lambda lot: 0), believed_down=set(down),
                      upcoming=lambda lot: lot.product.routing[lot.step + 1:lot.step + 2])


def test_a_fifo_cell_works_its_queue_in_arrival_order():
    lots = [lot("late-ish", BOX, 30), lot("urgent", BOX, 2)]
    assert dispatcher(dispatch="fifo").pick(lots) == 0


def test_a_paper_dispatch_list_takes_the_earliest_due_date_without_knowing_what_is_down():
    lots = [lot("late-ish", BOX, 30), lot("urgent", BOX, 2), lot("skips-bender", FLAT, 20)]
    assert dispatcher(dispatch="paper").pick(lots) == 1
    assert dispatcher(dispatch="paper", down={"bender"}).pick(lots) == 1


def test_a_live_cell_expedites_the_most_urgent_lot():
    lots = [lot("late-ish", BOX, 30), lot("urgent", BOX, 2), lot("later", FLAT, 50)]
    assert dispatcher().pick(lots) == 1


def test_a_live_cell_resequences_around_a_cell_it_knows_is_down():
    lots = [lot("needs-bender", BOX, 2), lot("skips-bender", FLAT, 20)]
    assert dispatcher(down={"bender"}).pick(lots) == 1
    assert dispatcher(down={"bender"}, dispatch="paper").pick(lots) == 0  # nobody knows
    only_blocked = [lot("needs-bender", BOX, 2), lot("also", BOX, 3)]
    assert dispatcher(down={"bender"}).pick(only_blocked) == 0  # nothing else to do


@pytest.mark.parametrize(("dispatch", "sequencing"), [("live", "plant"), ("paper", "local")])
def test_sequencing_groups_by_the_machines_setup_within_the_slack(dispatch, sequencing):
    setup = {"box": 2, "plate": 0}  # the cell is set up for plates
    pick = dispatcher(dispatch, sequencing, setup=lambda lot: setup[lot.product.name]).pick
    assert pick([lot("box", BOX, 2), lot("plate", FLAT, 9)]) == 1  # 7 h later: within slack
    assert pick([lot("box", BOX, 2), lot("plate", FLAT, 11)]) == 0  # 9 h: not
    assert dispatcher(setup=lambda lot: setup[lot.product.name]).pick(
        [lot("box", BOX, 2), lot("plate", FLAT, 9)]) == 0  # no sequencing: due date only


@pytest.mark.parametrize(("level", "knows_at_once"), [("standalone", False), ("opcua", True)])
def test_the_plant_believes_a_cell_down_only_when_it_learns_of_it(level, knows_at_once):
    plant, events = tiny_plant(level, failures=True)
    failed_at = None
    while failed_at is None:
        plant.run(plant.now + 600)
        failed_at = next((e.time for e in events if isinstance(e, StateChanged)
                          and e.activity is Activity.FAILED), None)
    plant.run(failed_at + 2)  # OPC UA publishes within a second
    still_down = next(e for e in reversed(events) if isinstance(e, StateChanged)
                      and e.cell == "laser").activity.is_down
    assert still_down
    believed = plant.lines[0].information.believed_down
    assert (believed == {"laser"}) is knows_at_once


@pytest.mark.parametrize("level", ["standalone", "opcua"])
def test_setup_aware_sequencing_saves_setups_at_any_level(level):
    def setups(sequencing: str) -> int:
        from factory_sim.scenario import load_scenario, parse_override
        from tests.model.scenario_files import reference
        scenario = load_scenario(reference(level),
                                 [parse_override(f"mechanisms.sequencing={sequencing}")])
        plant = Plant(scenario, seed=4)
        events: list = []
        plant.subscribe(events.append)
        plant.run(10 * DAY)
        return sum(1 for e in events if isinstance(e, StateChanged)
                   and e.activity is Activity.SETUP)
    assert setups("local") < 0.9 * setups("none")


# -- standby -------------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "switch", "after"), [
    ("standalone", None, 900.0),  # the machine's own timer
    ("opcua", None, 300.0),  # the plant knows no work is coming
    ("opcua", "none", None),
    ("standalone", "plant", 300.0),
])
def test_an_idle_machine_goes_to_standby_after_its_timer(level, switch, after):
    data = tiny()
    power = {**data["cells"][0]["power"], "standby": 0.2}
    cells = [{**cell, "power": power} for cell in data["cells"]]
    plant, events = tiny_plant(level, cells=cells,
                               standby={"after": "5m", "local_after": "15m"},
                               mechanisms={"standby": switch})
    plant.run(2 * DAY)
    laser = [e for e in events if isinstance(e, StateChanged) and e.cell == "laser"]
    switched = [(before, after) for before, after in itertools.pairwise(laser)
                if after.activity is before.activity and after.power_kw == 0.2]
    assert bool(switched) is (after is not None)
    for before, later in switched:
        assert before.activity.is_idle
        assert later.time - before.time == pytest.approx(after)


def test_standby_lowers_the_energy_per_good_part():
    def energy(after: str) -> float:
        data = tiny()
        power = {**data["cells"][0]["power"], "standby": 0.2}
        cells = [{**cell, "power": power} for cell in data["cells"]]
        plant, _ = tiny_plant("opcua", cells=cells, standby={"after": after})
        kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
        plant.subscribe(kpis)
        plant.run(3 * DAY)
        return kpis.report(plant.now).plant.energy_per_good_part_kwh
    assert energy("5m") < energy("1000h")


# -- failures ------------------------------------------------------------------------------

def test_mtbf_on_producing_time_matches_the_scenario_and_iso_mtbf_is_longer():
    plant, _ = tiny_plant("opcua", failures=True)  # the laser's mtbf is 1 h
    kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
    plant.subscribe(kpis)
    plant.run(40 * DAY)
    repairs = kpis.report(plant.now).cell("laser").repairs
    assert repairs.failures > 100
    assert repairs.mtbf_producing_s == pytest.approx(3600.0, rel=0.2)
    assert repairs.mtbf_operating_s > repairs.mtbf_producing_s  # idle time counted too


def test_an_absurd_backlog_is_refused_with_its_limit():
    from factory_sim.scenario import ScenarioError
    orders = {**tiny()["orders"], "interarrival": "1m", "backlog": "1y"}
    with pytest.raises(ScenarioError, match=r"orders: expected a backlog of at most 10,000"):
        scenario_from_dict(tiny(orders=orders))


def test_the_run_starts_with_last_weeks_work_on_the_floor():
    orders = {**tiny()["orders"], "backlog": "12h", "on_floor_at_start": 3,
              "release": {"rule": "conwip", "wip_cap": 3}}
    plant, events = tiny_plant("opcua", orders=orders)
    plant.run(DAY)
    at_start = [e.order_id for e in events if isinstance(e, OrderReleased) and e.time == 0.0]
    assert len(at_start) == 3  # the cards are all out with the orders already on the floor
    first_cell = {}
    for e in events:
        if isinstance(e, JobStarted) and e.order_id in at_start:
            first_cell.setdefault(e.order_id, e.cell)
    assert set(first_cell) == set(at_start)
    assert "packing" in first_cell.values()  # some were past the laser already


# -- predictive maintenance ----------------------------------------------------------------

def condition_alarms(within: str, coverage: float, false_alarms: float):
    from factory_sim.events import AlarmRaised
    from factory_sim.scenario import load_scenario, parse_override
    from factory_sim.states import AlarmKind
    from tests.model.scenario_files import reference
    scenario = load_scenario(reference("opcua"), [parse_override(text) for text in (
        "mechanisms.maintenance=predictive",
        f"maintenance.predictive={{into_break_within: {within}, coverage: {coverage}, "
        f"false_alarms_per_week: {false_alarms}}}")])
    plant = Plant(scenario, seed=2)
    events: list = []
    plant.subscribe(events.append)
    plant.run(14 * DAY)
    calendar = plant.lines[0].cells[0].ctx.working_time.calendar
    return ([e for e in events if isinstance(e, AlarmRaised) and e.alarm is AlarmKind.CONDITION],
            calendar)


def test_predictive_maintenance_is_planned_into_the_next_break():
    alarms, calendar = condition_alarms("8h", 0.6, 0.5)
    assert len(alarms) >= 5
    assert not any(calendar.is_working(e.time) for e in alarms)


def test_predictive_maintenance_done_at_once_stops_work_mid_shift():
    alarms, calendar = condition_alarms("0s", 0.6, 0.5)
    assert len(alarms) >= 5
    assert sum(calendar.is_working(e.time) for e in alarms) > 0.5 * len(alarms)


def test_false_alarms_cost_a_maintenance_without_a_failure_behind_them():
    none, _ = condition_alarms("0s", 0.0, 0.0)
    false, _ = condition_alarms("0s", 0.0, 5.0)
    assert none == []
    # Four cells, two weeks, five a week each: about forty.
    assert 20 <= len(false) <= 70


# -- realism: job data of new and repeat jobs, due dates in working time -------------------

def test_new_jobs_take_the_long_transfer_and_repeat_jobs_the_short_one():
    plant, events = tiny_plant("standalone", job_data={
        "manual_transfer": "10m", "repeat_transfer": "2m", "new_job_share": 0.5,
        "wrong_parameter": 0.0})
    plant.run(4 * DAY)
    laser = durations_of(events, "laser", Activity.SETUP)
    kinds = {round(d / MINUTE) for d in laser}
    assert kinds == {5 + 10, 5 + 2}  # the family setup plus a new or a repeat job's transfer


def test_transfer_times_vary_around_their_mean():
    plant, events = tiny_plant("standalone", job_data={
        "manual_transfer": "10m", "transfer_cv": 0.5, "wrong_parameter": 0.0})
    plant.run(10 * DAY)
    transfers = [d - 5 * MINUTE for d in durations_of(events, "laser", Activity.SETUP)]
    assert len(set(transfers)) == len(transfers) > 20
    mean = sum(transfers) / len(transfers)
    assert 7 * MINUTE < mean < 13 * MINUTE


def test_due_dates_in_working_time_follow_the_shift_calendar():
    orders = {**tiny()["orders"], "due": "4h", "due_latest": "12h", "due_in": "working_time"}
    plant, events = tiny_plant("opcua", orders=orders)
    plant.run(5 * DAY)
    calendar = plant.lines[0].cells[0].ctx.working_time.calendar
    completed = [e for e in events if isinstance(e, OrderCompleted)]
    assert len(completed) > 10
    for order in completed:
        quoted = calendar.working_time_between(max(order.arrived, 0.0), order.due)
        assert 4 * 3600 - 1e-6 <= quoted <= 12 * 3600 + 1e-6
        assert calendar.is_working(order.due) or calendar.period_at(order.due).start == order.due
    # One shift a day: some due dates lie a night later than the calendar hours would say.
    assert any(order.due - max(order.arrived, 0.0) > 12 * 3600 for order in completed)


# -- connectivity's own failure mode: outages ----------------------------------------------

def test_during_a_network_outage_connected_cells_fall_back_to_the_paper_route():
    from factory_sim.events import FailureDetected
    plant, events = tiny_plant(
        "opcua", failures=True,
        job_data={"manual_transfer": "10m", "wrong_parameter": 0.0},
        network={"outages_per_year": 500, "mean_outage": "100000h"})  # down for good, soon
    plant.run(6 * DAY)
    network = plant.lines[0].network
    assert network.outages == 1 and not network.up
    down = network.down_since
    starts = [e.time for e in events if isinstance(e, StateChanged) and e.cell == "laser"
              and e.activity is Activity.SETUP]
    setups = list(zip(starts, durations_of(events, "laser", Activity.SETUP), strict=False))
    # Before the outage the program came by wire (the family setup only), after it by hand.
    assert {round(d / MINUTE) for t, d in setups if t < down} <= {5}
    assert {round(d / MINUTE) for t, d in setups if t >= down} == {15}
    detected = [(e.failed_at, e.time - e.failed_at) for e in events
                if isinstance(e, FailureDetected)]
    assert all(delay <= 1.0 for at, delay in detected if at < down)  # the alarm
    assert all(delay > 1.0 for at, delay in detected if at >= down)  # somebody noticed
    assert sum(at >= down for at, _ in detected) >= 5


def reference_run(level: str, days: float, seed: int = 4, *overrides: str):
    from factory_sim.scenario import load_scenario, parse_override
    from tests.model.scenario_files import reference
    plant = Plant(load_scenario(reference(level), [parse_override(o) for o in overrides]),
                  seed=seed)
    events: list = []
    kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
    plant.subscribe(events.append)
    plant.subscribe(kpis)
    plant.run(days * DAY)
    return events, kpis.report(plant.now).plant


def what_happened(events) -> list[dict]:
    """The floor and what the plant learned of it; not the job orders' bookkeeping."""
    from factory_sim.events import PlannerInformed, ShiftReportFiled
    kinds = (StateChanged, PartFinished, OrderCompleted, PlannerInformed, ShiftReportFiled)
    return [e.as_record() for e in events if isinstance(e, kinds)]


DOWN_THROUGHOUT = "network.scheduled=[{at: 0s, duration: 30d}]"


@pytest.fixture(scope="module")
def standalone_week():
    return reference_run("standalone", 5, 4, DOWN_THROUGHOUT)  # no network: nothing to lose


@pytest.mark.parametrize("level", ["vendor", "opcua", "unified"])
def test_a_connected_plant_whose_network_is_down_runs_as_the_stand_alone_plant(
        standalone_week, level):
    """Not to nothing, not to full knowledge: every mechanism falls back to what the
    stand-alone shop does, so the same seed gives the very same floor, the same paper
    reports and the same planner's knowledge; the outage is the KPI that says so."""
    events, kpis = reference_run(level, 5, 4, DOWN_THROUGHOUT)
    alone_events, alone = standalone_week
    assert what_happened(events) == what_happened(alone_events)
    assert kpis.lead_time_s.mean == alone.lead_time_s.mean
    assert kpis.network_outage_s == 5 * DAY and kpis.network_outages == 1
    assert alone.network_outage_s == 0


def test_an_outage_cuts_the_connected_mechanisms_for_its_duration_only():
    from factory_sim.events import FailureDetected, NetworkChanged, PlannerInformed
    start, end = 2 * DAY + 8 * 3600, 3 * DAY + 12 * 3600  # Wednesday 08:00 to Thursday noon
    outage = f"network.scheduled=[{{at: {start:.0f}s, duration: {end - start:.0f}s}}]"
    events, kpis = reference_run("unified", 5, 4, outage)
    same, _ = reference_run("unified", 5, 4)
    assert [e for e in events if isinstance(e, NetworkChanged)] == [
        NetworkChanged(start, "line-1", False), NetworkChanged(end, "line-1", True)]
    # Until the outage the plant is the same as without it.
    before = [e.as_record() for e in events if e.time < start]
    assert before == [e.as_record() for e in same if e.time < start]
    # During it the planner learns only from the paper report at the shift ends, and what
    # was held is forwarded when the network is back.
    learned = {e.time for e in events if isinstance(e, PlannerInformed)
               and start <= e.occurred_at < end}
    shift_ends = {2 * DAY + 14 * 3600, 2 * DAY + 22 * 3600, 3 * DAY + 14 * 3600}
    assert end in learned and learned - {end} <= shift_ends and learned & shift_ends
    # Breakdowns are noticed by somebody walking by, not by the alarm.
    detected = [(e.failed_at, e.time - e.failed_at) for e in events
                if isinstance(e, FailureDetected)]
    assert all(delay > 1.0 for at, delay in detected if start <= at < end)
    assert all(delay <= 1.0 for at, delay in detected if at < start or at >= end + 3600)
    assert sum(start <= at < end for at, _ in detected) >= 1
    # Machines go to standby on their own 15 min timer while the plant cannot tell them.
    idle_to_standby = standby_delays(events)
    assert {round(d / MINUTE) for t, d in idle_to_standby if start <= t < end - 900} == {15}
    assert {round(d / MINUTE) for t, d in idle_to_standby if t < start} == {5}
    assert kpis.network_outage_s == end - start


def standby_delays(events) -> list[tuple[float, float]]:
    """(when an idle spell began, how long until the machine went to standby), every cell."""
    last: dict[str, StateChanged] = {}
    delays = []
    for e in events:
        if isinstance(e, StateChanged):
            before = last.get(e.cell)
            if before is not None and before.activity is e.activity \
                    and e.power_kw < before.power_kw:
                delays.append((before.time, e.time - before.time))
            last[e.cell] = e
    return delays


def test_random_outages_as_a_switch_move_their_own_kpis_on_paired_seeds():
    """Outages at random (switched on at a high rate) add outage time, make what the planner
    knows staler and breakdowns noticed later, never sooner."""
    rate = ("network.outages_per_year=500", "network.mean_outage=2h")
    pairs = [(reference_run("opcua", 7, seed)[1], reference_run("opcua", 7, seed, *rate)[1])
             for seed in range(1, 4)]
    for without, with_outages in pairs:  # on every paired seed, in its direction
        assert without.network_outage_s == 0 < with_outages.network_outage_s
        assert without.information.latency_s.mean < with_outages.information.latency_s.mean
        assert without.repairs.detection_s <= with_outages.repairs.detection_s


def test_no_outages_by_default_and_the_same_plant_without_them():
    plant, events = tiny_plant("opcua", failures=True)
    twin, twin_events = tiny_plant("opcua", failures=True, network={"outages_per_year": 0})
    plant.run(3 * DAY)
    twin.run(3 * DAY)
    assert plant.lines[0].network.outages == 0
    assert [e.as_record() for e in events] == [e.as_record() for e in twin_events]
