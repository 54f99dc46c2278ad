"""docs/students/lesson.md is current with the code without re-running it (regenerating it
takes the better part of an hour: `scripts/lesson_tables.py`): every horizon states its n and
the rule that set it, n is at least 30, the sources it prints are the code's, and at every
horizon each step is read in words and attributed, each attribution table listing exactly the
mechanisms the step changes. The figures themselves are a finding: nothing here asserts what
they show."""

from __future__ import annotations

import re
from itertools import pairwise

from factory_sim.attribution import ablations
from factory_sim.mechanisms import SOURCES
from factory_sim.scenario import load_scenario
from tests.docs.doc_commands import DOCS
from tests.model.scenario_files import reference

PAGE = (DOCS / "students" / "lesson.md").read_text(encoding="utf-8")
LEVELS = ("standalone", "vendor", "opcua", "unified")


def test_every_horizon_states_its_n_and_the_rule_and_has_at_least_30():
    headings = re.findall(r"^## (.+), (\d+) paired replications \(seeds 1–(\d+)\)$", PAGE, re.M)
    assert [h[0] for h in headings] == ["28 days", "365 days"]
    for _, n, last in headings:
        assert int(n) == int(last) >= 30
        assert f"n = {n} by the sequential rule: at least 30 paired replications" in PAGE


def test_the_sources_printed_are_the_codes():
    for mechanism, text in SOURCES.items():
        assert f"- **{mechanism}**: {text}" in PAGE


def test_every_horizon_attributes_each_step_to_the_mechanisms_it_changes():
    levels = [load_scenario(reference(level)) for level in LEVELS]
    horizons = PAGE.split("\n## ")[1:]
    assert len(horizons) == 2  # one run of the script wrote both (its date is the page's)
    for section in horizons:
        reading = section.split("### What each step does")[1].split("\n###")[0]
        assert re.findall(r"^- \*\*(.+?)\*\*: ", reading, re.M) == [
            f"{a} → {b}" for a, b in pairwise(LEVELS)]
        for before, after in pairwise(levels):
            table = section.split(f"### Attribution of {before.name} → {after.name}")[1]
            rows = re.findall(r"^\| (\w+) \|", table.split("\n\n")[1], re.M)
            assert rows[1:] == list(ablations(before, after)), before.name  # after the header
