"""What connecting the factory changes, in ISO 22400 KPIs, for the same seed."""

from factory_sim.kpi import KpiAccounting
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario
from tests.model.scenario_files import reference


def plant_kpis(level: str, days: float = 15, seed: int = 2026):
    plant = Plant(load_scenario(reference(level)), seed=seed)
    kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
    plant.subscribe(kpis)
    plant.run(days * 86400)
    return kpis.report(plant.now).plant


def test_standalone_has_longer_mttr_and_lower_oee_than_opcua():
    standalone, opcua = plant_kpis("standalone"), plant_kpis("opcua")
    assert standalone.repairs.failures >= 5 and opcua.repairs.failures >= 5
    assert standalone.repairs.mttr_s > opcua.repairs.mttr_s
    assert standalone.repairs.detection_s > opcua.repairs.detection_s
    assert standalone.oee < opcua.oee
    assert standalone.lead_time_s.mean > opcua.lead_time_s.mean
    assert standalone.information.latency_s.mean > 3600 > opcua.information.latency_s.mean
    assert standalone.information.accuracy < 1.0 == opcua.information.accuracy


def test_unified_has_fewer_breakdowns_than_opcua():
    opcua, unified = plant_kpis("opcua"), plant_kpis("unified")
    assert unified.repairs.failures < opcua.repairs.failures
