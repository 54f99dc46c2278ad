"""Graded labs: each worksheet (`factory_cli/worksheets/`, package data) has questions
whose answers the model computes.

A student runs the worksheet's commands with their own seed, which the teacher derives from
the student id and a course secret (`factory_cli.course_secret`), fills in an answer sheet
(YAML, with their id) and the teacher's `factory-sim lab check` compares it with the model's
figures for that seed: right or wrong, with hints where to look only if the teacher asks for
them, never the direction of an error (which would make the checker an oracle). Tolerances are
rounding where the student reads a figure the CLI prints for the same seeds, wider where the
student measures it themselves (from a live stream); a choice between alternatives accepts
every alternative whose difference to the best is within the noise of the replications.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from factory_cli.errors import CliError

WORKSHEETS = files(__package__) / "worksheets"


@dataclass(frozen=True)
class Question:
    key: str  # in the answer sheet
    ask: str  # what the worksheet asks, briefly
    kind: str = "number"  # number | name | yes/no | choice (one of `choices`: a rubric)
    unit: str = ""
    choices: tuple[str, ...] = ()  # kind "choice": the options the worksheet lists


@dataclass(frozen=True)
class Expected:
    """The model's answer: a number with a tolerance, or the accepted names."""

    value: Any  # float, or a tuple of accepted names ("yes"/"no" for yes/no)
    tolerance: float = 0.0
    hint: str = ""  # where to look, shown with a wrong answer


@dataclass(frozen=True)
class Lab:
    number: int
    name: str
    title: str
    questions: tuple[Question, ...]
    solve: Callable[[Mapping[str, Any]], dict[str, Expected]]
    extra: Callable[[int], dict[str, Any]] = field(default=lambda seed: {})

    @property
    def id(self) -> str:
        return f"{self.number:02d}-{self.name}"

    @property
    def worksheet(self) -> Traversable:
        return WORKSHEETS / f"{self.id}.md"

    def params(self, seed: int) -> dict[str, Any]:
        """The values the worksheet's placeholders take for a student's `seed` ({seed}, ...)."""
        return {"seed": seed, **self.extra(seed)}


# -- computing the answers ------------------------------------------------------------------


def _scenario(name: str, sets: Sequence[str] = ()):
    """A shipped or lab scenario by name, wherever the command runs."""
    from factory_cli.scenario_files import open_scenario

    return open_scenario(name, sets)


@cache
def _replicated(names: tuple[str, ...], seed: int, replications: int, days: int) -> dict:
    """compare's replication data for scenario files or shipped names."""
    from factory_cli.experiment_output import experiment_data
    from factory_cli.simulation import Job, run_replications
    from factory_sim.experiments import replication_seeds

    scenarios = [_scenario(name) for name in names]
    seeds = replication_seeds(seed, replications)
    jobs = [Job(s, x, days * 86400.0) for s in scenarios for x in seeds]
    results = run_replications(jobs)
    runs = [results[i * replications:(i + 1) * replications] for i in range(len(scenarios))]
    return experiment_data([s.name for s in scenarios], list(names), seeds, runs)


def _min_names(values: Mapping[str, float], within: float) -> tuple[str, ...]:
    low = min(values.values())
    return tuple(name for name, value in values.items() if value - low <= within)


def _yes_no(flag: bool) -> tuple[str, ...]:
    return ("yes",) if flag else ("no",)


# Lab 1: reading an ISO 22400 OEE report ----------------------------------------------------

PERCENT_READ = 0.15  # a percentage printed with one decimal, read off a table


def _oee_report(p: Mapping[str, Any]) -> dict[str, Expected]:
    from factory_cli.simulation import simulate

    report = simulate(_scenario("reference-opcua"), seed=p["seed"], duration=5 * 86400.0).report
    plant = report.plant
    press = report.cell("press-brake")
    factors = {"availability": plant.availability, "performance": plant.performance,
               "quality": plant.quality}
    return {
        "plant_oee_pct": Expected(plant.oee * 100, PERCENT_READ, "the plant column, OEE row"),
        "plant_availability_pct": Expected(plant.availability * 100, PERCENT_READ),
        "plant_performance_pct": Expected(plant.performance * 100, PERCENT_READ),
        "plant_quality_pct": Expected(plant.quality * 100, PERCENT_READ),
        "smallest_factor": Expected(_min_names(factors, 0.0005),
                                    hint="OEE = availability × performance × quality"),
        "lowest_availability_cell": Expected(
            _min_names({c.cell: c.availability for c in report.cells}, 0.001),
            hint="compare the Availability row across the cells"),
        "press_brake_oee_pct": Expected(press.oee * 100, PERCENT_READ),
        "press_brake_down_h": Expected(press.times.down_s / 3600, 0.2,
                                       "add the hours of the activities whose ISO 22400 "
                                       "element is DOWN in the 'Where the time went' table"),
    }


# Lab 2: stand-alone against OPC UA ------------------------------------------------------------

LAB2 = ("reference-standalone", "reference-opcua")
MTTR_PARTS = ("detection", "response", "repair")
LATENCY_CAUSES = ("shift-reports", "polling-interval", "publishing-interval", "network-outages")


def _standalone_vs_opcua(p: Mapping[str, Any]) -> dict[str, Expected]:
    data = _replicated(LAB2, p["seed"], 5, 14)
    standalone, opcua = data["scenarios"]
    diff = opcua["difference_to_first"]

    def beyond(path: str) -> tuple[str, ...]:
        found = diff[path]
        return _yes_no(found["half_width"] is not None and abs(found["mean"]) > found[
            "half_width"])

    hint = "the paired difference table; * marks an interval that excludes 0"
    return {
        "standalone_mttr_min": Expected(standalone["plant"]["repairs.mttr_s"]["mean"] / 60,
                                        0.15, "the means table, MTTR row"),
        "standalone_detection_min": Expected(
            standalone["plant"]["repairs.detection_s"]["mean"] / 60, 0.15),
        "mttr_difference_min": Expected(diff["repairs.mttr_s"]["mean"] / 60, 0.15, hint),
        "mttr_difference_beyond_noise": Expected(beyond("repairs.mttr_s"), hint=hint),
        "detection_difference_beyond_noise": Expected(beyond("repairs.detection_s"),
                                                      hint=hint),
        "standalone_latency_h": Expected(
            standalone["plant"]["information.latency_s.mean"]["mean"] / 3600, 0.01,
            "the table gives seconds: divide by 3600"),
        "oee_difference_pct": Expected(diff["oee"]["mean"] * 100, PERCENT_READ, hint),
        "oee_difference_beyond_noise": Expected(beyond("oee"), hint=hint),
        # The reasoning questions, as structured choices: the part of the repair time that
        # connecting changes most (from the figures), and why stand-alone latency is of the
        # order of a shift (the model's mechanism: shift reports written at the shift's end).
        "mttr_difference_mostly": Expected(
            (max(MTTR_PARTS, key=lambda part: abs(diff[f"repairs.{part}_s"]["mean"])),),
            hint="compare the detection, response and repair rows of the difference table"),
        "standalone_latency_cause": Expected(("shift-reports",), hint="how does the planner "
                                             "of a stand-alone plant learn what happened?"),
    }


# Lab 3: the integration effort of a machine and a consumer more -----------------------------


def _rate(seed: int) -> dict[str, Any]:
    return {"rate": 60 + seed % 61}  # EUR per engineering hour: 60..120


def _integration(p: Mapping[str, Any]) -> dict[str, Expected]:
    from factory_cli.experiment_output import integration_data

    rate = f"integration.rate_per_h={p['rate']}"
    four = "consumers=[planning, maintenance, quality, energy]"
    names = ["reference-vendor", "reference-opcua"]
    now = integration_data(names, [_scenario(n, [rate]) for n in names])
    more = integration_data(names, [_scenario(n, [rate, four]) for n in names])
    vendor, opcua = now["scenarios"]
    vendor4, opcua4 = more["scenarios"]
    growth = now["growth"]

    def interfaces(architecture: str, n: int) -> int:
        return next(r["interfaces"] for r in growth
                    if r["architecture"] == architecture and r["machines"] == n)

    break_even = next(n for n in range(1, 100)
                      if interfaces("point-to-point", n) > interfaces("standard", n))
    return {
        "vendor_interfaces": Expected(vendor["interfaces"]),
        "opcua_interfaces": Expected(opcua["interfaces"]),
        "vendor_machine_added": Expected(vendor["machine_added"]),
        "opcua_machine_added": Expected(opcua["machine_added"]),
        "vendor_build_cost_eur": Expected(vendor["cost_build"], 1.0,
                                          "the Build cost row, with your --set rate"),
        "opcua_build_cost_eur": Expected(opcua["cost_build"], 1.0),
        "vendor_interfaces_4_consumers": Expected(vendor4["interfaces"]),
        "opcua_interfaces_4_consumers": Expected(opcua4["interfaces"]),
        "break_even_machines": Expected(
            break_even, hint="integration.csv: the growth table, N × M against N + M"),
    }


# Lab 4: one connection on a budget: which machine first? ------------------------------------

CELLS = ("punch-laser", "press-brake", "cobot", "packing")
LAB4 = ("reference-standalone", *(f"labs/connect-{cell}" for cell in CELLS))
HOURS_READ = 0.06  # hours printed with one decimal


def _first_connection(p: Mapping[str, Any]) -> dict[str, Expected]:
    # Graded on lead time: a stable plant's throughput is set by demand, so it cannot tell
    # the connections apart; how long an order waits can.
    data = _replicated(LAB4, p["seed"], 5, 14)
    connected = dict(zip(CELLS, data["scenarios"][1:], strict=True))
    gains = {cell: s["difference_to_first"]["lead_time_s.mean"] for cell, s in connected.items()}
    best = min(gains, key=lambda cell: gains[cell]["mean"])  # the largest reduction
    # Noise-aware: a cell whose reduction is not smaller than the best one's beyond the paired
    # noise (replication by replication, on the same seeds) is an equally good choice.
    plants = {cell: [run["plant"]["lead_time_s"]["mean"] for run in s["replications"]]
              for cell, s in connected.items()}
    from factory_sim.experiments import paired_difference

    accepted = tuple(cell for cell in CELLS if cell == best or not paired_difference(
        plants[best], plants[cell]).excludes_zero)
    hint = "the paired difference table, Lead time, mean row"
    answers = {f"lead_time_{cell.replace('-', '_')}_h": Expected(
        gains[cell]["mean"] / 3600, HOURS_READ, hint) for cell in CELLS}
    best_gain = gains[best]
    answers["connect_first"] = Expected(
        accepted, hint="the largest lead-time reduction; if two overlap within their "
        "intervals, either is right")
    answers["reduction_beyond_noise"] = Expected(_yes_no(
        best_gain["half_width"] is not None and -best_gain["mean"] > best_gain["half_width"]),
        hint=hint)
    otif = {cell: s["difference_to_first"]["on_time_in_full"]["mean"] * 100
            for cell, s in connected.items()}
    answers["otif_difference_pct"] = Expected(
        otif[best], PERCENT_READ,
        "the OTIF row of the difference table, for the largest mean lead-time reduction")
    return answers


# Lab 5: hands-on OPC UA --------------------------------------------------------------------

STEP_TO = 7 * 3600.0  # Monday 07:00: the worksheet steps the paused server there


@cache
def _plant_story(seed: int) -> dict[str, Any]:
    """What a client sees on the paused OPC UA server stepped to 07:00, and the first failure."""
    from factory_sim.events import AlarmRaised, StateChanged
    from factory_sim.plant import Plant
    from factory_sim.states import AlarmKind

    plant = Plant(_scenario("reference-opcua"), seed=seed)
    seen: dict[str, Any] = {"first_failure": None, "laser_power": []}

    def watch(event: object) -> None:
        if (isinstance(event, AlarmRaised) and event.alarm is AlarmKind.FAILURE
                and seen["first_failure"] is None):
            seen["first_failure"] = (event.cell, event.time)
        if (isinstance(event, StateChanged) and event.cell == "punch-laser"
                and 6 * 3600 <= event.time <= STEP_TO):
            seen["laser_power"].append(event.power_kw)

    plant.subscribe(watch)
    plant.run(STEP_TO)
    press, packing = plant.snapshot("press-brake"), plant.snapshot("packing")
    day = 86400.0
    while seen["first_failure"] is None and plant.now < 28 * day:
        plant.run(plant.now + day)
    return {"tool": press.tool, "life": press.tool_life_remaining, "packed": packing.good,
            "failure": seen["first_failure"], "laser_max_kw": max(seen["laser_power"],
                                                                   default=0.0)}


def _opcua_hands_on(p: Mapping[str, Any]) -> dict[str, Expected]:
    story = _plant_story(p["seed"])
    cell, raised = story["failure"]
    return {
        "press_brake_active_tool": Expected((story["tool"],),
                                            hint="Machines/press-brake/Tooling/ActiveTool"),
        "press_brake_tool_life_remaining": Expected(story["life"], 0.0,
                                                    "Tooling/ToolLifeRemaining, in strokes"),
        "packing_good_parts": Expected(story["packed"], 0.0, "Monitoring/GoodParts"),
        "punch_laser_max_power_kw": Expected(story["laser_max_kw"], 0.05,
                                             "HistoryRead of Monitoring/Power, 06:00-07:00"),
        "first_failure_cell": Expected((cell,), hint="the machine whose alarm condition "
                                       "became active first"),
        "first_failure_minutes": Expected(raised / 60, 1.0,
                                          "the alarm's Time, as minutes after Monday 00:00"),
    }


# Lab 6: hands-on unified namespace --------------------------------------------------------


def _unified_namespace(p: Mapping[str, Any]) -> dict[str, Expected]:
    from factory_cli.simulation import simulate

    report = simulate(_scenario("reference-opcua"), seed=p["seed"], duration=86400.0).report
    press = report.cell("press-brake")
    producing_h = press.times.apt_s / 3600
    return {
        # Measured by the student from a live stream: a tolerance for where they started
        # and stopped recording and how they cut the breaks.
        "press_brake_producing_h": Expected(producing_h, 0.25,
                                            "sum the time the Activity topic says producing"),
        "press_brake_availability_pct": Expected(press.availability * 100, 2.0,
                                                 "producing time / planned busy time "
                                                 "(shifts minus breaks)"),
        "press_brake_good_parts": Expected(press.good, 2.0, "the last GoodParts message of the "
                                           "day"),
    }


# Lab 7: switch the mechanisms off one at a time -----------------------------------------------

LAB7 = ("reference-standalone", "reference-opcua")
LAB7_REPLICATIONS, LAB7_DAYS = 5, 14


@cache
def _attributed(seed: int) -> dict:
    """The attribution of stand-alone → OPC UA as `compare --attribute` computes it."""
    from factory_cli.simulation import Job, run_replications
    from factory_sim.attribution import ablations, attribute_reports
    from factory_sim.experiments import replication_seeds

    before, after = (_scenario(name) for name in LAB7)
    found = ablations(before, after)
    scenarios = [before, after, *found.values()]
    seeds = replication_seeds(seed, LAB7_REPLICATIONS)
    results = run_replications([Job(s, x, LAB7_DAYS * 86400.0)
                                for s in scenarios for x in seeds])
    n = len(seeds)
    plants = [[r["plant"] for r in results[i * n:(i + 1) * n]] for i in range(len(scenarios))]
    terms = attribute_reports(plants[0], plants[1], dict(zip(found, plants[2:], strict=True)),
                              ["lead_time_s.mean", "repairs.mttr_s",
                               "energy_per_good_part_kwh"])
    return {"mechanisms": list(found), "terms": terms}


LAB7_LOCAL = ("reference-standalone", "labs/standalone-without-local-knowledge")
NETWORK_CHOICES = ("family-grouping", "local-standby-timer", "job-data-by-wire")


def _mechanisms_one_at_a_time(p: Mapping[str, Any]) -> dict[str, Expected]:
    # Question 6, once a discussion question, in a checkable form: how much a stand-alone
    # plant without the shop's local knowledge would credit to connectivity (figures from the
    # student's seed), and which of three mechanisms needs a network at all.
    local = _replicated(LAB7_LOCAL, p["seed"], LAB7_REPLICATIONS, LAB7_DAYS)
    without = local["scenarios"][1]["difference_to_first"]
    local_hint = "the paired difference table of the second command"
    found = _attributed(p["seed"])
    lead = found["terms"]["lead_time_s.mean"]
    hint = "the attribution table of compare --attribute"
    contributions = {m: iv.mean for m, iv in lead.contributions.items()}
    best = min(contributions, key=contributions.get)
    # Mechanisms whose lead-time gain is as large as the best one's within its interval.
    within = lead.contributions[best].half_width or 0.0
    largest = _min_names(contributions, within)
    return {
        "job_data_lead_time_h": Expected(lead.contributions["job_data"].mean / 3600, 0.15,
                                         hint),
        "notification_mttr_min": Expected(
            found["terms"]["repairs.mttr_s"].contributions["notification"].mean / 60, 0.15, hint),
        "standby_energy_kwh": Expected(
            found["terms"]["energy_per_good_part_kwh"].contributions["standby"].mean, 0.0015,
            hint),
        "interaction_lead_time_h": Expected(lead.interaction.mean / 3600, 0.15,
                                            "the interaction rest row"),
        "step_lead_time_h": Expected(lead.step.mean / 3600, 0.15, "the step row"),
        "largest_lead_time_mechanism": Expected(
            largest, hint="the most negative contribution in the lead-time column; if "
            "another lies within its interval, either is right"),
        "without_local_knowledge_lead_time_h": Expected(
            without["lead_time_s.mean"]["mean"] / 3600, HOURS_READ, local_hint),
        "without_local_knowledge_energy_kwh": Expected(
            without["energy_per_good_part_kwh"]["mean"], 0.0015, local_hint),
        "needs_network": Expected(("job-data-by-wire",), hint="which of them works with no "
                                  "cable to the office? (docs/reference/mechanisms.md)"),
    }


# Lab 8: the lesson over demand -----------------------------------------------------------------

LAB8_VALUES = ("70m", "60m", "50m", "45m")
LAB8_REPLICATIONS, LAB8_DAYS = 5, 14


@cache
def _over_demand(seed: int) -> dict[str, dict]:
    """Per interarrival time: OPC UA's plant summary and its paired difference against
    stand-alone, as `sweep --baseline-level standalone` computes them."""
    from factory_cli.simulation import Job, run_replications
    from factory_sim.experiments import paired_differences, replication_seeds, summarise

    scenarios = [_scenario("reference-opcua", [f"orders.interarrival={v}", f"connectivity={lv}"])
                 for lv in ("opcua", "standalone") for v in LAB8_VALUES]
    seeds = replication_seeds(seed, LAB8_REPLICATIONS)
    results = run_replications([Job(s, x, LAB8_DAYS * 86400.0)
                                for s in scenarios for x in seeds])
    n, k = len(seeds), len(LAB8_VALUES)
    plants = [[r["plant"] for r in results[i * n:(i + 1) * n]] for i in range(len(scenarios))]
    return {value: {"opcua": summarise(plants[i]), "standalone": summarise(plants[k + i]),
                    "difference": paired_differences(plants[k + i], plants[i])}
            for i, value in enumerate(LAB8_VALUES)}


def _lesson_over_demand(p: Mapping[str, Any]) -> dict[str, Expected]:
    points = _over_demand(p["seed"])
    hint = "the paired-difference table of sweep --baseline-level standalone"

    def lead(value: str) -> float:
        return points[value]["difference"]["lead_time_s.mean"].mean / 3600

    oee = points["45m"]["difference"]["oee"]
    # Question 5, once a discussion question, in a checkable form: the small OEE difference
    # below capacity (from the student's seed) and what it means, as structured choices.
    return {
        "lead_time_difference_70m_h": Expected(lead("70m"), 0.15, hint),
        "lead_time_difference_50m_h": Expected(lead("50m"), 0.15, hint),
        "gain_larger_under_load": Expected(_yes_no(lead("50m") < lead("70m")),
                                           hint="compare the two lead-time differences"),
        "opcua_oee_70m_pct": Expected(points["70m"]["opcua"]["oee"].mean * 100, PERCENT_READ,
                                      "the first table, OEE column"),
        "opcua_oee_50m_pct": Expected(points["50m"]["opcua"]["oee"].mean * 100, PERCENT_READ),
        "oee_difference_45m_pct": Expected(oee.mean * 100, PERCENT_READ, hint),
        "oee_difference_45m_beyond_noise": Expected(_yes_no(oee.excludes_zero), hint=hint),
        "oee_difference_70m_pct": Expected(
            points["70m"]["difference"]["oee"].mean * 100, PERCENT_READ, hint),
        "oee_below_capacity_set_by": Expected(
            ("demand",), hint="what changed between 70 and 50 min, and what did not?"),
        "judge_project_by": Expected(
            ("lead-time-and-otif",), hint="which KPIs moved with connectivity at 70 min?"),
    }


# Lab 9: you are the MES -----------------------------------------------------------------

MES_FIRST_STEP = 60.0  # the worksheet steps the paused server this far before reading orders


@cache
def _mes_story(seed: int) -> dict[str, Any]:
    """The first order's first operation, dispatched as the worksheet does it."""
    from factory_sim.job_orders import JobOrderRequest
    from factory_sim.plant import Plant
    from factory_sim.states import Activity, JobOrderState

    scenario = _scenario("reference-opcua")
    plant = Plant(scenario, seed=seed, external_dispatch=True)
    plant.run(MES_FIRST_STEP)
    order = plant.order_book()[0]
    cell = order.product.routing[0]
    book = plant.job_orders(cell)
    job_id = f"{order.id}/{cell}"
    book.store(JobOrderRequest(job_id, order.variant, order.quantity), start=True)
    while book.get(job_id).state is not JobOrderState.ENDED and plant.now < 28 * 86400.0:
        plant.run(plant.now + 3600.0)
    job = book.get(job_id)
    return {"order": order.id, "quantity": order.quantity, "cell": cell, "good": job.good,
            "producing_min": job.times.get(Activity.PRODUCING, 0.0) / 60,
            "by_hand_min": scenario.job_data.manual_transfer / 60}


def _you_are_the_mes(p: Mapping[str, Any]) -> dict[str, Expected]:
    story = _mes_story(p["seed"])
    return {
        "first_order_id": Expected((story["order"],), hint="OrderIds[0] of Objects/Plant/Orders"),
        "first_order_quantity": Expected(story["quantity"], 0.0, "Quantities[0]"),
        "first_operation_cell": Expected((story["cell"],), hint="the first cell of Routings[0]"),
        "first_operation_good": Expected(story["good"], 0.0,
                                         "RunsCompleted of the job order's response"),
        "first_operation_producing_min": Expected(story["producing_min"], 0.1,
                                                  "OutputPerformanceInfo: ProducingTime / 60"),
        "paper_route_setup_min": Expected(story["by_hand_min"], 0.0,
                                          "job_data.manual_transfer of the scenario"),
    }


LABS: tuple[Lab, ...] = (
    Lab(1, "oee-report", "Reading an ISO 22400 OEE report", (
        Question("plant_oee_pct", "plant OEE", unit="%"),
        Question("plant_availability_pct", "plant availability", unit="%"),
        Question("plant_performance_pct", "plant performance", unit="%"),
        Question("plant_quality_pct", "plant quality rate", unit="%"),
        Question("smallest_factor", "the smallest of the three OEE factors", "choice",
                 choices=("availability", "performance", "quality")),
        Question("lowest_availability_cell", "the cell with the lowest availability", "name"),
        Question("press_brake_oee_pct", "the press brake's OEE", unit="%"),
        Question("press_brake_down_h", "the press brake's down time (ADOT)", unit="h"),
    ), _oee_report),
    Lab(2, "standalone-vs-opcua", "Stand-alone against OPC UA: where the time goes", (
        Question("standalone_mttr_min", "mean MTTR, stand-alone", unit="min"),
        Question("standalone_detection_min", "its detection part, stand-alone", unit="min"),
        Question("mttr_difference_min", "MTTR difference OPC UA − stand-alone", unit="min"),
        Question("mttr_difference_beyond_noise", "is it beyond the noise?", "yes/no"),
        Question("detection_difference_beyond_noise", "is the detection difference beyond "
                 "the noise?", "yes/no"),
        Question("standalone_latency_h", "mean information latency, stand-alone", unit="h"),
        Question("oee_difference_pct", "OEE difference OPC UA − stand-alone", unit="%"),
        Question("oee_difference_beyond_noise", "is it beyond the noise?", "yes/no"),
        Question("mttr_difference_mostly", "the part of MTTR that connecting changes most",
                 "choice", choices=MTTR_PARTS),
        Question("standalone_latency_cause", "why stand-alone latency is of the order of a "
                 "shift", "choice", choices=LATENCY_CAUSES),
    ), _standalone_vs_opcua),
    Lab(3, "integration-effort", "The integration effort of one machine and one consumer more", (
        Question("vendor_interfaces", "interfaces, vendor plant"),
        Question("opcua_interfaces", "interfaces, OPC UA plant"),
        Question("vendor_machine_added", "interfaces one machine more costs, vendor"),
        Question("opcua_machine_added", "interfaces one machine more costs, OPC UA"),
        Question("vendor_build_cost_eur", "build cost, vendor", unit="EUR"),
        Question("opcua_build_cost_eur", "build cost, OPC UA", unit="EUR"),
        Question("vendor_interfaces_4_consumers", "interfaces with a 4th consumer, vendor"),
        Question("opcua_interfaces_4_consumers", "interfaces with a 4th consumer, OPC UA"),
        Question("break_even_machines", "machines from which N × M exceeds N + M"),
    ), _integration, extra=_rate),
    Lab(4, "first-connection", "One connection on a budget: which machine first?", (
        *(Question(f"lead_time_{cell.replace('-', '_')}_h", f"mean lead-time difference "
                   f"connecting {cell}", unit="h") for cell in CELLS),
        Question("connect_first", "the machine to connect first", "choice", choices=CELLS),
        Question("reduction_beyond_noise", "is its reduction beyond the noise?", "yes/no"),
        Question("otif_difference_pct", "the OTIF difference of the largest mean reduction",
                 unit="%"),
    ), _first_connection),
    Lab(5, "opcua-hands-on", "Hands-on OPC UA: browse, read, acknowledge, history", (
        Question("press_brake_active_tool", "the press brake's active tool at 07:00", "name"),
        Question("press_brake_tool_life_remaining", "its tool life remaining at 07:00",
                 unit="strokes"),
        Question("packing_good_parts", "packing's good parts at 07:00"),
        Question("punch_laser_max_power_kw", "punch-laser's highest power 06:00-07:00",
                 unit="kW"),
        Question("first_failure_cell", "the machine with the first failure alarm", "name"),
        Question("first_failure_minutes", "when it was raised, minutes after Monday 00:00",
                 unit="min"),
    ), _opcua_hands_on),
    Lab(6, "unified-namespace", "Hands-on unified namespace: a cell's OEE from the stream", (
        Question("press_brake_producing_h", "hours the press brake produced on Monday",
                 unit="h"),
        Question("press_brake_availability_pct", "its availability on Monday", unit="%"),
        Question("press_brake_good_parts", "its good parts on Monday"),
    ), _unified_namespace),
    Lab(7, "mechanisms-one-at-a-time", "Switch the mechanisms off one at a time", (
        Question("job_data_lead_time_h", "job data's contribution to mean lead time", unit="h"),
        Question("notification_mttr_min", "notification's contribution to MTTR", unit="min"),
        Question("standby_energy_kwh", "standby's contribution to energy per good part",
                 unit="kWh"),
        Question("interaction_lead_time_h", "the interaction rest in lead time", unit="h"),
        Question("step_lead_time_h", "the whole step in lead time", unit="h"),
        Question("largest_lead_time_mechanism", "the mechanism with the largest lead-time "
                 "gain", "name"),
        Question("without_local_knowledge_lead_time_h", "lead-time difference without the "
                 "shop's local knowledge", unit="h"),
        Question("without_local_knowledge_energy_kwh", "energy-per-part difference without "
                 "it", unit="kWh"),
        Question("needs_network", "the mechanism that needs a network", "choice",
                 choices=NETWORK_CHOICES),
    ), _mechanisms_one_at_a_time),
    Lab(8, "lesson-over-demand", "The lesson over demand", (
        Question("lead_time_difference_70m_h", "lead-time difference at 70 min", unit="h"),
        Question("lead_time_difference_50m_h", "lead-time difference at 50 min", unit="h"),
        Question("gain_larger_under_load", "is the gain larger at 50 min?", "yes/no"),
        Question("opcua_oee_70m_pct", "OPC UA plant OEE at 70 min", unit="%"),
        Question("opcua_oee_50m_pct", "OPC UA plant OEE at 50 min", unit="%"),
        Question("oee_difference_45m_pct", "OEE difference at 45 min (saturated)", unit="%"),
        Question("oee_difference_45m_beyond_noise", "is it beyond the noise?", "yes/no"),
        Question("oee_difference_70m_pct", "OEE difference at 70 min", unit="%"),
        Question("oee_below_capacity_set_by", "what sets OEE below capacity", "choice",
                 choices=("demand", "connectivity", "availability")),
        Question("judge_project_by", "what to judge a project by below capacity", "choice",
                 choices=("oee", "lead-time-and-otif")),
    ), _lesson_over_demand),
    Lab(9, "you-are-the-mes", "You are the MES: job orders over OPC UA", (
        Question("first_order_id", "the order due first", "name"),
        Question("first_order_quantity", "its quantity"),
        Question("first_operation_cell", "the cell of its first operation", "name"),
        Question("first_operation_good", "good parts of that job order"),
        Question("first_operation_producing_min", "its producing time", unit="min"),
        Question("paper_route_setup_min", "setup the paper route adds per new job",
                 unit="min"),
    ), _you_are_the_mes),
)


def find_lab(name: str) -> Lab:
    """A lab by number ("1", "01"), name ("oee-report") or id ("01-oee-report")."""
    for lab in LABS:
        if name in (lab.id, lab.name, str(lab.number), f"{lab.number:02d}"):
            return lab
    raise CliError(f"lab {name!r}: no such lab; expected one of "
                   f"{', '.join(lab.id for lab in LABS)}")


def worksheet_text(lab: Lab, seed: int | None) -> str:
    """The worksheet with a student's values in its placeholders ({seed}, ...); without a
    seed they read <seed>, ... (the teacher hands each student their seed)."""
    text = lab.worksheet.read_text(encoding="utf-8")
    values = lab.params(seed) if seed is not None else {
        key: f"<{key}>" for key in ("seed", *lab.extra(0))}
    for key, value in values.items():
        text = text.replace(f"{{{key}}}", str(value))
    return text


def answer_key(lab: Lab, student: str, seed: int) -> dict[str, Any]:
    """The teacher's reference answers for `student` (whose seed is `seed`), as a sheet."""
    expected = lab.solve(lab.params(seed))
    sheet: dict[str, Any] = {"student": student}
    for question in lab.questions:
        value = expected[question.key].value
        if isinstance(value, tuple):
            value = value[0]
        elif isinstance(value, float):
            value = round(value, 3)
        sheet[question.key] = value
    return sheet


@dataclass(frozen=True)
class Grade:
    key: str
    right: bool
    message: str


def grade(lab: Lab, answers: Mapping[str, Any], seed: int, hints: bool = False) -> list[Grade]:
    """One Grade per question: right or wrong (with `hints`, where to look), never how far
    off or in which direction, and never the answer."""
    expected = lab.solve(lab.params(seed))
    return [_grade(question, expected[question.key], answers.get(question.key), hints)
            for question in lab.questions]


def _grade(question: Question, want: Expected, given: Any, hints: bool) -> Grade:
    key = question.key
    hint = f" (hint: {want.hint})" if hints and want.hint else ""
    if given is None or given == "":
        return Grade(key, False, f"{key}: no answer; expected {_expected_kind(question)}")
    if question.kind in ("name", "yes/no", "choice"):
        text = str(given).strip().lower()
        if question.kind == "yes/no" and isinstance(given, bool):
            text = "yes" if given else "no"
        if question.choices and text not in question.choices:
            return Grade(key, False, f"{key}: expected {_expected_kind(question)}, got "
                         f"{_shown(given)}")
        if text in {str(v).lower() for v in want.value}:
            return Grade(key, True, f"{key}: right")
        return Grade(key, False, f"{key}: wrong{hint}")
    if isinstance(given, bool) or not isinstance(given, int | float):
        try:
            given = float(str(given).replace(",", ""))
        except ValueError:
            return Grade(key, False, f"{key}: expected {_expected_kind(question)}, "
                         f"got {_shown(given)}")
    if not math.isfinite(given):
        return Grade(key, False, f"{key}: expected a finite number, got {given!r}")
    if abs(given - want.value) <= want.tolerance + 1e-9:
        return Grade(key, True, f"{key}: right")
    return Grade(key, False, f"{key}: wrong{hint}")


def _shown(value: Any) -> str:
    """An answer as feedback quotes it: one line, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _expected_kind(question: Question) -> str:
    if question.kind == "yes/no":
        return "yes or no"
    if question.kind == "choice":
        return "one of " + ", ".join(question.choices)
    if question.kind == "name":
        return "a name"
    return f"a number in {question.unit}" if question.unit else "a number"


MAX_SHEET_BYTES = 64 * 1024  # an answer sheet is a few dozen lines


def read_answers(path: Path) -> dict[str, Any]:
    """An answer sheet: a mapping with a student id, read with the bounded YAML loader."""
    from bounded_yaml import YamlInputError, read_yaml_file

    try:
        data = read_yaml_file(path, "answer sheet", max_bytes=MAX_SHEET_BYTES, max_nodes=10_000,
                              max_depth=8)
    except YamlInputError as exc:
        raise CliError(str(exc)) from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: expected a mapping of question keys to answers")
    return data
