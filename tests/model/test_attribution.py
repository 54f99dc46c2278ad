"""Attribution of a connectivity step to its mechanisms, on the reference plant."""

from __future__ import annotations

import pytest

from factory_cli.simulation import simulate
from factory_sim.attribution import ablations, attribute_reports, resolved, with_mechanisms
from factory_sim.scenario import load_scenario
from tests.model.scenario_files import reference

DAYS = 7 * 86400.0


def plant(scenario, seed: int) -> dict:
    return simulate(scenario, seed=seed, duration=DAYS).as_dict()["plant"]


def test_a_level_is_nothing_but_its_switches():
    standalone, opcua = load_scenario(reference("standalone")), load_scenario(reference("opcua"))
    switched = with_mechanisms(standalone, resolved(opcua), "standalone+all")
    assert plant(switched, 5) == plant(opcua, 5)
    assert plant(standalone, 5) != plant(opcua, 5)


def test_only_the_mechanisms_a_step_changes_are_ablated():
    opcua, unified = load_scenario(reference("opcua")), load_scenario(reference("unified"))
    assert list(ablations(opcua, unified)) == ["sequencing", "maintenance"]
    standalone = load_scenario(reference("standalone"))
    assert list(ablations(standalone, opcua)) == ["notification", "job_data", "information",
                                                  "dispatch", "standby"]


def test_contributions_and_interaction_add_up_to_the_step():
    before, after = load_scenario(reference("standalone")), load_scenario(reference("opcua"))
    seeds = (1, 2, 3)
    runs_before = [plant(before, s) for s in seeds]
    runs_after = [plant(after, s) for s in seeds]
    ablated = {m: [plant(sc, s) for s in seeds] for m, sc in ablations(before, after).items()}
    terms = attribute_reports(runs_before, runs_after, ablated,
                              ["lead_time_s.mean", "repairs.mttr_s", "energy_per_good_part_kwh"])
    for path, found in terms.items():
        total = sum(iv.mean for iv in found.contributions.values()) + found.interaction.mean
        assert total == pytest.approx(found.step.mean, abs=1e-9), path
        assert found.step.n == len(seeds)
    # Each mechanism moves the KPI it exists for, in its direction, in every replication.
    mttr = terms["repairs.mttr_s"]
    assert mttr.contributions["notification"].high < 0
    energy = terms["energy_per_good_part_kwh"]
    assert energy.contributions["standby"].high < 0
    lead = terms["lead_time_s.mean"]
    assert lead.contributions["job_data"].mean < 0
