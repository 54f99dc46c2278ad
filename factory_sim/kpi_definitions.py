"""What each KPI of the report means: one record per KPI, the single source for the KPI
definitions page (`docs/reference/kpis.md`, written by `docs/make_reference.py`).

`iso` names the ISO 22400-2:2014 KPI or time element the figure follows (empty where the
KPI is the project's own); `fields` are the KPI report fields that hold it, as paths from
`KpiReport` (`cells[]` for every cell), and a test checks each path exists.

>>> AVAILABILITY.formula
'APT / PBT'
>>> "cells[].availability" in AVAILABILITY.fields
True
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KpiDefinition:
    """One KPI: its name, the ISO 22400-2 KPI it follows, its formula, unit and meaning."""

    name: str
    iso: str
    formula: str
    unit: str
    counts: str  # what it counts, in the shop's words
    fields: tuple[str, ...]


TIME_ELEMENTS = KpiDefinition(
    "POT, PBT, APT", "time elements POT, PBT, APT",
    "POT = all time − off-shift; PBT = POT − breaks; APT = producing time", "s",
    "planned operation time, planned busy time and actual production time of a work unit "
    "(short stops count as producing); every second of every cell is booked to one activity, "
    "so the state times add up to the simulated time",
    ("cells[].times.pot_s", "cells[].times.pbt_s", "cells[].times.apt_s",
     "plant.times.pot_s", "plant.times.pbt_s", "plant.times.apt_s"))
AVAILABILITY = KpiDefinition(
    "Availability", "Availability", "APT / PBT", "share (0–1)",
    "the share of planned busy time the cell actually produced",
    ("cells[].availability",))
PERFORMANCE = KpiDefinition(
    "Performance", "Effectiveness", "PRI × PQ / APT", "share (0–1)",
    "planned run time of what was made over the time spent making it; PRI is the planned cycle "
    "time of each part's variant on that cell, summed over every part produced",
    ("cells[].performance", "cells[].planned_run_time_s"))
QUALITY = KpiDefinition(
    "Quality", "Quality ratio", "GQ / PQ", "share (0–1)",
    "good parts over every run (PQ: good, scrap and rework runs)",
    ("cells[].quality", "cells[].good", "cells[].produced"))
OEE = KpiDefinition(
    "OEE", "OEE index", "availability × performance × quality", "share (0–1)",
    "overall equipment effectiveness of one cell",
    ("cells[].oee",))
PLANT_OEE = KpiDefinition(
    "Plant OEE", "OEE index (aggregated over work units)",
    "ΣAPT / ΣPBT × Σ(PRI·PQ) / ΣAPT × ΣGQ / ΣPQ", "share (0–1)",
    "the cells' sums, so every cell's losses count in proportion to its planned time (not just "
    "the bottleneck's)",
    ("plant.availability", "plant.performance", "plant.quality", "plant.oee"))
THROUGHPUT = KpiDefinition(
    "Throughput", "Throughput rate", "good parts / simulated hours", "parts/h",
    "per cell: good parts made; for the plant: parts delivered in completed orders",
    ("cells[].throughput_per_h", "plant.throughput_parts_per_h",
     "plant.throughput_orders_per_h"))
LEAD_TIME = KpiDefinition(
    "Lead time, throughput time", "",
    "order arrival → completion; order release → completion", "s (mean, median, p90)",
    "how long a customer waits, and how long an order spends on the shop floor",
    ("plant.lead_time_s", "plant.throughput_time_s"))
WIP = KpiDefinition(
    "WIP", "", "time-average of released, not yet completed orders", "orders, parts",
    "work in progress, as orders and as the parts they order",
    ("plant.wip_orders", "plant.wip_parts"))
ON_TIME_IN_FULL = KpiDefinition(
    "On-time in full (OTIF)", "", "orders on time and complete / completed orders",
    "share (0–1)",
    "an order short of a scrapped part, or empty, is not in full",
    ("plant.on_time_in_full",))
ON_TIME = KpiDefinition(
    "On time, any quantity", "", "orders by their due time / completed orders", "share (0–1)",
    "delivered by the due time, whatever the quantity",
    ("plant.on_time",))
FILL_RATE = KpiDefinition(
    "Fill rate", "", "good parts delivered / parts ordered, over completed orders",
    "share (0–1)", "how much of what was ordered was delivered",
    ("plant.fill_rate",))
SETUP_TIME = KpiDefinition(
    "Setup time", "time element ASUT", "time in setup", "s",
    "per cell; the plant's figure is summed over the cells",
    ("cells[].times.setup_s", "plant.times.setup_s"))
MTTR = KpiDefinition(
    "MTTR", "MTTR", "mean of (alarm cleared − failure alarm raised)", "s",
    "split into detection (→ maintenance knows), response (→ technician at the cell) and "
    "repair, in working time",
    ("cells[].repairs.mttr_s", "cells[].repairs.detection_s", "cells[].repairs.response_s",
     "cells[].repairs.repair_s", "plant.repairs.mttr_s"))
MTBF_PRODUCING = KpiDefinition(
    "MTBF, producing time", "", "producing time / failures", "s",
    "the figure the scenario's `mtbf` draws failures on (a machine wears while it makes parts)",
    ("cells[].repairs.mtbf_producing_s", "plant.repairs.mtbf_producing_s"))
MTBF_OPERATING = KpiDefinition(
    "MTBF, operating time", "MOTBF", "(PBT − down time) / (failures + 1)", "s",
    "operating time (idle included) per interval between failures, as ISO 22400-2 counts them",
    ("cells[].repairs.mtbf_operating_s", "plant.repairs.mtbf_operating_s"))
ENERGY_PER_GOOD_PART = KpiDefinition(
    "Energy per good part", "Comprehensive energy consumption", "kWh / good parts",
    "kWh/part", "power per activity integrated over time, over the good parts (plant: delivered)",
    ("cells[].energy_per_good_part_kwh", "plant.energy_per_good_part_kwh"))
INFORMATION_LATENCY = KpiDefinition(
    "Information latency", "", "state change → the planner learns of it", "s (mean, p90)",
    "how stale the planner's picture of the shop floor is",
    ("cells[].information.latency_s", "plant.information.latency_s"))
UNLEARNED_SHARE = KpiDefinition(
    "State changes never learned", "",
    "state changes the planner never heard of / state changes", "share (0–1)",
    "short stops nobody wrote down",
    ("cells[].information.unlearned_share", "plant.information.unlearned_share"))
INFORMATION_ACCURACY = KpiDefinition(
    "Information accuracy", "", "1 − Σ|reported − actual| / Σ actual", "share (0–1)",
    "per cell over its paper shift reports (good, scrap, downtime; their mean); a live cell is "
    "exact (1.0); the plant's figure is the mean over every cell",
    ("cells[].information.accuracy", "plant.information.accuracy"))

KPI_DEFINITIONS: tuple[KpiDefinition, ...] = (
    TIME_ELEMENTS, AVAILABILITY, PERFORMANCE, QUALITY, OEE, PLANT_OEE, THROUGHPUT, LEAD_TIME,
    WIP, ON_TIME_IN_FULL, ON_TIME, FILL_RATE, SETUP_TIME, MTTR, MTBF_PRODUCING, MTBF_OPERATING,
    ENERGY_PER_GOOD_PART, INFORMATION_LATENCY, UNLEARNED_SHARE, INFORMATION_ACCURACY,
)
