"""Integration effort: N x M adapters with vendor interfaces, N + M with OPC UA."""

import doctest

import factory_sim.integration as integration
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario
from tests.model.scenario_files import SCENARIOS, reference


def test_doctests():
    assert doctest.testmod(integration).failed == 0


def effort(path):
    return Plant(load_scenario(path)).integration_effort()


def test_levels_of_the_reference_plant():
    standalone = effort(reference("standalone"))
    vendor = effort(reference("vendor"))
    opcua = effort(reference("opcua"))
    assert (standalone.interfaces, standalone.live_cells) == (0, 0)
    assert standalone.manual_reports_per_week == 4 * 2 * 5  # cells x shifts x days
    assert (vendor.interfaces, vendor.live_cells) == (2 * 3, 2)  # 2 mapped x 3 consumers
    assert vendor.manual_reports_per_week == 2 * 2 * 5
    assert (opcua.interfaces, opcua.live_cells) == (4 + 3, 4)
    assert opcua.machine_added == 1 and vendor.machine_added == 3
    assert effort(reference("unified")) == opcua


def test_mixed_plant():
    mixed = effort(SCENARIOS / "mixed.yaml")
    assert mixed.interfaces == 1 * 3 + (1 + 3)  # press brake adapters + laser on OPC UA
    assert mixed.live_cells == 2 and mixed.manual_reports_per_week == 2 * 10
