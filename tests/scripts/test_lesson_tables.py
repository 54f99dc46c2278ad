"""scripts/lesson_tables.py writes the whole lesson page in one run: every horizon gets its
level tables, its steps, their reading in words and, where asked, each step's attribution;
the reading says what the intervals show, worse included. Tiny horizons, in this process."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from factory_cli.experiment_output import headline_rows
from factory_sim.experiments import Interval

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("lesson_tables",
                                               ROOT / "scripts" / "lesson_tables.py")
lesson_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lesson_tables)

LEAD, OTIF, MTTR = "lead_time_s.mean", "on_time_in_full", "repairs.mttr_s"


def test_one_run_attributes_every_horizon_it_is_asked_to(tmp_path):
    page = tmp_path / "lesson.md"
    assert lesson_tables.main(["--replications", "2", "--horizons", "8h:2,16h:2,8h:0",
                               "--jobs", "1", "--out", str(page)]) == 0
    sections = page.read_text(encoding="utf-8").split("\n## ")[1:]
    assert [s.split(",")[0] for s in sections] == ["8 h", "16 h", "8 h"]
    steps = ("standalone → vendor", "vendor → opcua", "opcua → unified")
    for section, attributed in zip(sections, (True, True, False), strict=True):
        reading = section.split("### What each step does")[1].split("\n###")[0]
        assert re.findall(r"^- \*\*(.+?)\*\*: ", reading, re.M) == list(steps)
        assert ("by mechanism" in reading or "No headline KPI beyond the noise" in reading) \
            == attributed
        assert section.count("### Attribution of reference-") == (3 if attributed else 0)


def test_the_reading_states_each_effect_and_its_mechanisms_worse_included():
    rows = headline_rows([LEAD, OTIF, MTTR])
    noise = Interval(0.0, 0.5, 10)
    step = {LEAD: Interval(-3 * 3600.0, 0.5 * 3600.0, 10), OTIF: Interval(-0.05, 0.01, 10),
            MTTR: noise}

    class Terms:  # one KPI's attribution, as factory_sim.attribution.Attribution
        def __init__(self, contributions, interaction=noise):
            self.contributions, self.interaction = contributions, interaction

    terms = {LEAD: Terms({"job_data": Interval(-2 * 3600.0, 0.4 * 3600.0, 10),
                          "sequencing": Interval(0.8 * 3600.0, 0.3 * 3600.0, 10),
                          "dispatch": noise}),
             OTIF: Terms({"job_data": noise, "sequencing": Interval(-0.04, 0.01, 10),
                          "dispatch": noise}, Interval(-0.005, 0.002, 10)),
             MTTR: Terms({"job_data": noise, "sequencing": noise, "dispatch": noise})}
    lines = lesson_tables.step_reading("a", "b", rows, step, terms, [1, 2, 3])
    assert lines[0] == ("- **a → b**: Lead time, mean -3.0 ± 0.5 h *; On-time in full (OTIF) "
                        "-5.0 ± 1.0 pp * (worse). Within the noise (or rounding to zero): MTTR.")
    assert lines[1:] == [
        "    - Lead time, mean, by mechanism (seeds 1–3): job_data -2.0 ± 0.4 h *, "
        "sequencing +0.8 ± 0.3 h (worse).",
        "    - On-time in full (OTIF), by mechanism (seeds 1–3): sequencing -4.0 ± 1.0 pp * "
        "(worse), interaction rest -0.5 ± 0.2 pp.",
        "    - No headline KPI beyond the noise (seeds 1–3): dispatch."]
    assert lesson_tables.step_reading("a", "b", rows, step, None, []) == lines[:1]
