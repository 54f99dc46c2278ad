"""KPI accounting against figures computed by hand from a small, made-up event sequence.

Two cells over ten simulated hours. The laser is off shift, sets up, produces, fails, is
repaired, takes a break and goes off shift again; the press produces all the time. Every
expected figure below is worked out from the events, not from the code under test.
"""

from __future__ import annotations

import json

import pytest

from factory_sim.events import (
    AlarmCleared,
    AlarmRaised,
    FailureDetected,
    OrderCompleted,
    OrderReleased,
    PartFinished,
    PartOutcome,
    PlannerInformed,
    RepairCompleted,
    RepairStarted,
    ShiftReportFiled,
    StateChanged,
)
from factory_sim.kpi import Distribution, KpiAccounting
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario, scenario_from_dict
from factory_sim.shipped import shipped_scenarios_dir
from factory_sim.states import Activity, AlarmKind
from tests.cli.tiny_scenario import tiny

HOURS_10 = 36000.0
PRI = {("laser", "A"): 600.0, ("press", "B"): 3000.0}

# (time, activity, power kW) of the laser; the events carry the energy used so far.
LASER_STATES = [
    (0.0, Activity.OFF_SHIFT, 0.1),
    (3600.0, Activity.SETUP, 2.0),
    (5400.0, Activity.PRODUCING, 10.0),
    (9000.0, Activity.FAILED, 1.0),
    (10200.0, Activity.REPAIR, 3.0),
    (12000.0, Activity.PRODUCING, 10.0),
    (18000.0, Activity.BREAK, 0.5),
    (19800.0, Activity.PRODUCING, 10.0),
    (30000.0, Activity.OFF_SHIFT, 0.1),
]


def state_events(cell, states):
    energy, events = 0.0, []
    for index, (time, activity, power) in enumerate(states):
        if index:
            previous_time, _, previous_power = states[index - 1]
            energy += previous_power * (time - previous_time) / 3600.0
        events.append(StateChanged(time, cell, activity, power, energy))
    return events


def event_sequence():
    events = state_events("laser", LASER_STATES)
    events += state_events("press", [(0.0, Activity.PRODUCING, 5.0)])
    # 30 runs on the laser: 27 good, 2 scrap, 1 rework; 10 good parts on the press.
    outcomes = [PartOutcome.GOOD] * 27 + [PartOutcome.SCRAP] * 2 + [PartOutcome.REWORK]
    for n, outcome in enumerate(outcomes):
        events.append(PartFinished(5400.0 + 100 * n, "laser", "O-1", "A", outcome, n, 30))
    for n in range(10):
        events.append(PartFinished(3000.0 * (n + 1), "press", "O-2", "B", PartOutcome.GOOD,
                                   n + 1, 10))
    events += [
        AlarmRaised(9000.0, "laser", "F-1", AlarmKind.FAILURE, 800, "drive fault"),
        FailureDetected(9600.0, "laser", "F-1", 9000.0),
        RepairStarted(10200.0, "laser", "F-1"),
        AlarmCleared(12000.0, "laser", "F-1"),
        # Not a failure: no part of MTTR or MTBF.
        AlarmRaised(13000.0, "press", "W-1", AlarmKind.TOOL_WEAR, 500, "tool worn"),
        AlarmCleared(13500.0, "press", "W-1"),
        # A failure whose repair waits overnight: the model's working-time split counts.
        AlarmRaised(25000.0, "press", "F-2", AlarmKind.FAILURE, 800, "hydraulics"),
        FailureDetected(25001.0, "press", "F-2", 25000.0),
        RepairStarted(25100.0, "press", "F-2"),
        AlarmCleared(35000.0, "press", "F-2"),
        RepairCompleted(35000.0, "press", "F-2", 1.0, 99.0, 900.0),
        OrderReleased(1000.0, "O-1", "A", 10, 20000.0),
        OrderReleased(2000.0, "O-2", "A", 20, 30000.0),
        OrderCompleted(15000.0, "O-1", "A", 10, 1, 500.0, 1000.0, 20000.0),
        OrderCompleted(32000.0, "O-2", "A", 17, 1, 0.0, 2000.0, 30000.0),
        # The planner learns of 5 of the laser's state changes.
        PlannerInformed(1.0, "laser", Activity.OFF_SHIFT, 0.0),
        PlannerInformed(3605.0, "laser", Activity.SETUP, 3600.0),
        PlannerInformed(9060.0, "laser", Activity.FAILED, 9000.0),
        PlannerInformed(12030.0, "laser", Activity.PRODUCING, 12000.0),
        PlannerInformed(18002.0, "laser", Activity.BREAK, 18000.0),
        ShiftReportFiled(30000.0, "press", 0.0, 9, 1, 0.0, 10, 0, 0.0),
    ]
    return sorted(events, key=lambda e: e.time)  # a stable sort, like the model's clock


@pytest.fixture(scope="module")
def report():
    kpis = KpiAccounting(lambda cell, variant: PRI[(cell, variant)], cells=["laser", "press"])
    for event in event_sequence():
        kpis(event)
    return kpis.report(now=HOURS_10)


def test_state_times_add_up_to_the_simulated_time(report):
    laser = report.cell("laser")
    assert laser.state_times_s["off_shift"] == 9600.0
    assert laser.state_times_s["setup"] == 1800.0
    assert laser.state_times_s["producing"] == 19800.0
    assert laser.state_times_s["failed"] == 1200.0
    assert laser.state_times_s["repair"] == 1800.0
    assert laser.state_times_s["break"] == 1800.0
    for cell in report.cells:
        assert sum(cell.state_times_s.values()) == pytest.approx(HOURS_10)
        assert cell.times.total_s == pytest.approx(HOURS_10)


def test_iso_22400_time_elements_and_oee_of_a_cell(report):
    laser = report.cell("laser")
    assert laser.times.pot_s == 26400.0  # 10 h minus 9600 s off shift
    assert laser.times.pbt_s == 24600.0  # minus the 1800 s break
    assert laser.times.apt_s == 19800.0
    assert laser.times.down_s == 3000.0
    assert laser.availability == pytest.approx(19800 / 24600)
    assert laser.produced == 30
    assert (laser.good, laser.scrap, laser.rework) == (27, 2, 1)
    assert laser.performance == pytest.approx(30 * 600 / 19800)
    assert laser.quality == pytest.approx(0.9)
    assert laser.oee == pytest.approx(19800 / 24600 * 18000 / 19800 * 0.9)
    assert laser.throughput_per_h == pytest.approx(2.7)


def test_energy_integrates_power_over_states(report):
    laser = report.cell("laser")
    kwh = (0.1 * 9600 + 2 * 1800 + 10 * 19800 + 1 * 1200 + 3 * 1800 + 0.5 * 1800) / 3600
    assert laser.energy_kwh == pytest.approx(kwh)
    assert laser.energy_per_good_part_kwh == pytest.approx(kwh / 27)
    assert report.cell("press").energy_kwh == pytest.approx(50.0)  # 5 kW for 10 h


def test_mttr_split_and_mtbf(report):
    repairs = report.cell("laser").repairs
    assert (repairs.failures, repairs.repaired) == (1, 1)
    assert repairs.detection_s == 600.0
    assert repairs.response_s == 600.0
    assert repairs.repair_s == 1800.0
    assert repairs.mttr_s == 3000.0
    # Failures are drawn on producing time; ISO 22400 divides operating time, idle included.
    assert repairs.mtbf_producing_s == 19800.0
    assert repairs.mtbf_operating_s == pytest.approx((24600 - 3000) / 2)
    press = report.cell("press").repairs
    assert (press.failures, press.repaired) == (1, 1)
    assert (press.detection_s, press.response_s, press.repair_s) == (1.0, 99.0, 900.0)
    assert press.mttr_s == 1000.0
    assert (press.mtbf_producing_s, press.mtbf_operating_s) == (HOURS_10, HOURS_10 / 2)


def test_plant_oee_aggregates_the_cells_time_sums(report):
    plant = report.plant
    assert plant.times.apt_s == 19800 + 36000
    assert plant.times.pbt_s == 24600 + 36000
    assert plant.availability == pytest.approx(55800 / 60600)
    assert plant.performance == pytest.approx((18000 + 30000) / 55800)
    assert plant.quality == pytest.approx(37 / 40)
    assert plant.oee == pytest.approx(55800 / 60600 * 48000 / 55800 * 37 / 40)
    assert plant.repairs.mttr_s == 2000.0
    assert plant.repairs.detection_s == 300.5
    assert plant.repairs.mtbf_producing_s == pytest.approx((19800 + 36000) / 2)
    assert plant.repairs.mtbf_operating_s == pytest.approx((21600 + 36000) / 4)


def test_orders_lead_time_wip_and_delivery(report):
    plant = report.plant
    assert (plant.orders_released, plant.orders_completed) == (2, 2)
    assert plant.good_parts == 27 and plant.scrapped_parts == 2
    assert plant.throughput_parts_per_h == pytest.approx(2.7)
    assert plant.throughput_orders_per_h == pytest.approx(0.2)
    assert plant.lead_time_s == Distribution(2, 23250.0, 23250.0, 14500 + 0.9 * 17500)
    assert plant.throughput_time_s.mean == 22000.0
    # 1 order open for 1000 s, 2 for 13000 s, 1 for 17000 s.
    assert plant.wip_orders == pytest.approx(44000 / 36000)
    assert plant.wip_parts == pytest.approx((10 * 1000 + 30 * 13000 + 20 * 17000) / 36000)
    # O-1 came on time but one part short, O-2 late: neither was on time in full.
    assert (plant.on_time, plant.on_time_in_full) == (0.5, 0.0)
    assert plant.fill_rate == pytest.approx(27 / 29)
    assert plant.energy_per_good_part_kwh == pytest.approx(plant.energy_kwh / 27)


def test_information_latency_and_unlearned_state_changes(report):
    info = report.cell("laser").information
    assert info.latency_s.count == 5
    assert info.latency_s.mean == pytest.approx((1 + 5 + 60 + 30 + 2) / 5)
    assert info.latency_s.p50 == 5.0
    assert info.latency_s.p90 == pytest.approx(30 + 0.6 * 30)
    # 7 changes happened up to the last one learned of (at 18000 s); 5 were learned.
    assert info.unlearned_share == pytest.approx(2 / 7)
    assert report.cell("press").information.unlearned_share is None
    assert report.plant.information.unlearned_share == pytest.approx(2 / 7)


def test_information_accuracy_from_shift_reports(report):
    laser, press = report.cell("laser").information, report.cell("press").information
    assert (laser.shift_reports, laser.accuracy) == (0, 1.0)  # live: nothing to get wrong
    assert press.shift_reports == 1
    assert press.accuracy_good == pytest.approx(0.9)  # 9 reported, 10 made
    assert press.accuracy_scrap == 0.0  # 1 reported, none made
    assert press.accuracy_downtime == 1.0
    assert press.accuracy == pytest.approx(1.9 / 3)
    # The plant's figure is the mean over every cell, the live (exact) laser included.
    assert report.plant.information.accuracy == pytest.approx((1.0 + 1.9 / 3) / 2)
    assert report.plant.information.accuracy_good == pytest.approx((1.0 + 0.9) / 2)


def test_on_time_in_full_counts_neither_short_nor_empty_deliveries_and_fill_rate_does():
    kpis = KpiAccounting(lambda cell, variant: 1.0)
    # (delivered, scrapped, completed at); all due at 100 s.
    orders = [(5, 0, 90.0), (4, 1, 90.0), (0, 1, 90.0), (5, 0, 150.0)]
    for n, (good, scrapped, at) in enumerate(orders):
        kpis(OrderReleased(0.0, f"O-{n}", "A", good + scrapped, 100.0))
        kpis(OrderCompleted(at, f"O-{n}", "A", good, scrapped, 0.0, 0.0, 100.0))
    plant = kpis.report(now=200.0).plant
    assert plant.on_time == 0.75  # the empty delivery was "on time" too
    assert plant.on_time_in_full == 0.25
    assert plant.fill_rate == pytest.approx(14 / 16)


def test_a_report_mid_run_changes_nothing():
    kpis = KpiAccounting(lambda cell, variant: PRI[(cell, variant)])
    events = event_sequence()
    for event in events[:20]:
        kpis(event)
    early = kpis.report(now=events[19].time)
    assert sum(early.cell("laser").state_times_s.values()) == pytest.approx(events[19].time)
    for event in events[20:]:
        kpis(event)
    assert kpis.report(now=HOURS_10).cell("laser").state_times_s["producing"] == 19800.0


def test_report_is_json_ready_with_plant_and_cells(report):
    data = json.loads(json.dumps(report.as_dict()))
    assert data["simulated_s"] == HOURS_10
    assert [cell["cell"] for cell in data["cells"]] == ["laser", "press"]
    assert data["plant"]["lead_time_s"]["p50"] == 23250.0
    assert data["cells"][1]["repairs"]["mttr_s"] == 1000.0
    assert data["cells"][1]["information"]["unlearned_share"] is None


def test_no_events_gives_undefined_ratios_not_errors():
    report = KpiAccounting(lambda cell, variant: 1.0, cells=["a"]).report(now=3600.0)
    assert report.plant.oee is None and report.cell("a").availability is None
    assert report.plant.lead_time_s == Distribution(0, None, None, None)


# -- on the real model ------------------------------------------------------------------------

DAY = 86400.0
REFERENCE = shipped_scenarios_dir() / "reference-standalone.yaml"


def run_with_kpis(scenario, seed, seconds):
    plant = Plant(scenario, seed=seed)
    kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
    plant.subscribe(kpis)
    plant.run(seconds)
    return plant, kpis.report(plant.now)


def test_kpis_of_a_model_run_agree_with_the_models_own_counters():
    plant, report = run_with_kpis(load_scenario(REFERENCE), 4, 2 * DAY + 5 * 3600)
    assert [cell.cell for cell in report.cells] == list(plant.cells)
    for cell in report.cells:
        own = {activity.label: seconds for activity, seconds in
               plant.state_times(cell.cell).items()}
        assert cell.state_times_s == pytest.approx(own)
        assert sum(cell.state_times_s.values()) == pytest.approx(plant.now)
        snapshot = plant.snapshot(cell.cell)
        assert (cell.good, cell.scrap, cell.rework) == (
            snapshot.good, snapshot.scrap, snapshot.rework)
        assert cell.energy_kwh == pytest.approx(snapshot.energy_kwh)
    assert report.plant.information.shift_reports > 0  # stand-alone: paper reports
    assert report.plant.information.latency_s.mean > 600


def test_exact_cycle_times_give_a_performance_of_one():
    _, report = run_with_kpis(scenario_from_dict(tiny()), 2, DAY)
    laser = report.cell("laser")
    assert laser.repairs.failures > 0 and laser.scrap > 0  # losses are there ...
    for cell in report.cells:  # ... but none of speed: the day ends with no part half made
        assert cell.performance == pytest.approx(1.0)
        assert cell.quality == pytest.approx(cell.good / cell.produced)


def test_standby_is_a_new_power_not_a_state_change():
    kpis = KpiAccounting(lambda cell, variant: 60.0)
    kpis(StateChanged(0.0, "laser", Activity.STARVED, 6.0, 0.0))
    kpis(PlannerInformed(1.0, "laser", Activity.STARVED, 0.0))
    kpis(StateChanged(300.0, "laser", Activity.STARVED, 1.5, 0.5))  # switched to standby
    kpis(StateChanged(3600.0, "laser", Activity.PRODUCING, 35.0, 0.5 + 1.5 * 3300 / 3600))
    kpis(PlannerInformed(3601.0, "laser", Activity.PRODUCING, 3600.0))
    cell = kpis.report(now=3600.0).cell("laser")
    assert cell.state_times_s["starved"] == 3600.0
    assert cell.energy_kwh == pytest.approx(0.5 + 1.375)
    assert cell.information.unlearned_share == 0.0  # both state changes were learned


def test_every_kpi_definition_names_fields_the_report_has(report):
    """The KPI definitions page is written from these records: each must point at real
    report fields, and the formulas it states must be the ones the report computes."""
    from factory_sim.kpi_definitions import KPI_DEFINITIONS

    data = report.as_dict()
    for definition in KPI_DEFINITIONS:
        assert definition.formula and definition.unit and definition.fields, definition.name
        for path in definition.fields:
            node = data
            for part in path.split("."):
                node = node[part[:-2]][0] if part.endswith("[]") else node[part]
    press = data["cells"][1]
    assert press["availability"] == pytest.approx(press["times"]["apt_s"]
                                                  / press["times"]["pbt_s"])
    assert press["quality"] == pytest.approx(press["good"] / press["produced"])
