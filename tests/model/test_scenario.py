"""Scenario files: every shipped one loads; bad ones say file, key path and expectation."""

import pytest

from factory_sim.scenario import ScenarioError, load_scenario
from factory_sim.states import ConnectivityLevel
from tests.model.scenario_files import SCENARIOS, reference, write_variant


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path):
    scenario = load_scenario(path)
    assert scenario.description and scenario.name == path.stem


def test_derived_scenarios_differ_from_their_base_only_where_they_say():
    base = load_scenario(reference("opcua"))
    standalone = load_scenario(reference("standalone"))
    assert standalone.connectivity is ConnectivityLevel.STANDALONE
    assert standalone.model_dump(exclude={"name", "description", "connectivity"}) == (
        base.model_dump(exclude={"name", "description", "connectivity"}))
    vendor = load_scenario(reference("vendor"))
    assert [c.mapped for c in vendor.cells] == [True, True, False, False]
    assert vendor.cells[0].mtbf == base.cells[0].mtbf


@pytest.mark.parametrize(("override", "where", "expected"), [
    ("cells: [{name: press-brake, mtbf: often}]", "cells[0].mtbf",
     "expected a duration like 90m, 8h or 5d, got 'often'"),
    ("cells: [{name: cobot, scrap: 1.5}]", "cells[0].scrap", "less than or equal to 1"),
    ("cells: [{name: cobot, colour: red}]", "cells[0].colour", "unknown key"),
    ("connectivity: wireless", "connectivity",
     "expected one of standalone, vendor, opcua, unified, got 'wireless'"),
    ("calendar: {shifts: [{name: x, start: '25:99', end: '26:00'}]}",
     "calendar.shifts[0].start", "expected a time of day"),
    ("orders: {mix: {widget: 1}}", "(top level)", "orders.mix names unknown product 'widget'"),
    ("cells: [{name: laser2, kind: punch_laser}]", "cells[0].vendor", "required key is missing"),
    ("cells: [{name: cobot, kind: robot}]", "cells[0].kind", "'punch_laser'"),
])
def test_invalid_scenarios_name_file_key_and_expectation(tmp_path, override, where, expected):
    path = write_variant(tmp_path, "bad", override)
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert f": {where}: " in message
    assert expected in message
    assert "Traceback" not in message and "pydantic" not in message


def test_yaml_syntax_errors_give_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncells: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: line 3, column 1: not valid YAML"):
        load_scenario(path)


def test_missing_files_and_bases_are_reported(tmp_path):
    with pytest.raises(ScenarioError, match=r"nope\.yaml: cannot read the scenario file"):
        load_scenario(tmp_path / "nope.yaml")
    path = tmp_path / "orphan.yaml"
    path.write_text("base: missing.yaml\nname: orphan\n")
    with pytest.raises(ScenarioError, match=r"orphan\.yaml: base: no scenario file missing\.yaml"):
        load_scenario(path)
    path.write_text("base: orphan.yaml\n")
    with pytest.raises(ScenarioError, match="leads back to itself"):
        load_scenario(path)


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ScenarioError, match=r"list\.yaml: expected a mapping"):
        load_scenario(path)
