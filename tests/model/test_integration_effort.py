"""Integration effort: N x M adapters with vendor interfaces, N + M with OPC UA."""

import doctest

import pytest

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
    # 2 mapped x 3 consumers, and the office maps each one's job import
    assert (vendor.interfaces, vendor.live_cells, vendor.job_imports) == (2 * 3 + 2, 2, 2)
    assert vendor.manual_reports_per_week == 2 * 2 * 5
    assert (opcua.interfaces, opcua.live_cells) == (4 + 3, 4)
    assert opcua.machine_added == 1 and vendor.machine_added == 3 + 1
    assert opcua.job_imports == 0  # job orders come by the standard interface
    unified = effort(reference("unified"))
    assert (unified.interfaces, unified.companion_specs) == (opcua.interfaces, 4)


def test_mixed_plant():
    mixed = effort(SCENARIOS / "mixed.yaml")
    # press brake adapters and its job import + laser on OPC UA
    assert mixed.interfaces == 1 * 3 + 1 + (1 + 3)
    assert mixed.live_cells == 2 and mixed.manual_reports_per_week == 2 * 10


def test_standard_landscapes_have_fixed_costs_and_a_mapping_per_companion_specification():
    from factory_sim.integration import integration_cost
    from factory_sim.scenario import IntegrationSpec
    spec = IntegrationSpec().model_dump()
    opcua, unified = effort(reference("opcua")), effort(reference("unified"))
    assert opcua.companion_specs == 4  # punch/laser, press brake, cobot, packing
    assert (opcua.predictive_cells, opcua.plant_sequencing) == (0, False)
    assert (unified.predictive_cells, unified.plant_sequencing) == (4, True)
    cost = integration_cost(opcua, **spec)
    # (4 machines + 3 consumers) standard interfaces, 3 consumers x 3 further specifications.
    assert cost.build_h == 7 * spec["standard_build_h"] + 3 * 3 * spec["companion_mapping_h"]
    assert cost.cost_build == cost.build_h * spec["rate_per_h"] + spec["standard_fixed_eur"]
    applications = integration_cost(unified, **spec)
    assert applications.cost_build - cost.cost_build == 4 * spec["predictive_eur_per_cell"]
    assert applications.cost_per_year - cost.cost_per_year == (
        spec["predictive_eur_per_year"] + spec["sequencing_eur_per_year"])


def test_payback_weighs_the_extra_build_cost_against_the_yearly_gains():
    from factory_sim.integration import IntegrationCost, gains_per_year, payback_years
    before = IntegrationCost(0, 0, 100, 0, 10_000)
    after = IntegrationCost(100, 10, 0, 30_000, 4_000)
    gains = gains_per_year({"energy_kwh": -100.0, "good_parts": 50.0, "late_orders": 2.0},
                           7 * 86400.0, energy_eur_per_kwh=0.25, margin_eur_per_part=3.0,
                           late_order_eur=60.0)
    assert gains == pytest.approx(365 / 7 * (25 + 150 + 120))
    assert payback_years(before, after, gains) == pytest.approx(30_000 / (gains + 6_000))
    assert payback_years(before, IntegrationCost(0, 0, 0, 30_000, 20_000), 0.0) is None
