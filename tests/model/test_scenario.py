"""Scenario files: every shipped one loads; bad ones say file, key path and expectation."""

from datetime import UTC, datetime, timedelta

import pytest

from factory_sim.scenario import WEEKDAYS, ScenarioError, load_scenario, parse_override
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


def test_every_shipped_scenario_keeps_a_fixed_start():
    """Offline runs are reproducible: no shipped scenario starts on the wall clock."""
    for path in SCENARIOS.rglob("*.yaml"):
        assert load_scenario(path).start == datetime(2026, 1, 5, tzinfo=UTC), path


def test_start_now_is_the_wall_clock(tmp_path):
    before = datetime.now(UTC).replace(microsecond=0)
    scenario = load_scenario(write_variant(tmp_path, "live", "start: now"))
    assert before <= scenario.start <= datetime.now(UTC)
    assert scenario.start.utcoffset() is not None


def test_start_now_shift_is_the_start_of_the_shift_under_way(tmp_path):
    """A shift that started at most its length ago on a workday, else now."""
    scenario = load_scenario(reference(), [parse_override("start=now/shift")])
    now = datetime.now().astimezone()
    start = scenario.start
    assert start <= now
    shifts = {shift.start: shift.end - shift.start for shift in scenario.calendar.shifts}
    midnight = start.replace(hour=0, minute=0, second=0)
    since_midnight = (start - midnight).total_seconds()
    if since_midnight in shifts and WEEKDAYS[start.weekday()] in scenario.calendar.workdays:
        assert now - start < timedelta(seconds=shifts[since_midnight])
    else:  # no shift under way: now
        assert now - start < timedelta(seconds=5)


@pytest.mark.parametrize("text", ["start=yesterday", "start=now/day"])
def test_a_bad_start_says_what_it_accepts(text):
    with pytest.raises(ScenarioError) as error:
        load_scenario(reference(), [parse_override(text)])
    assert "expected a date and time like 2026-01-05T06:00:00Z, or now, or now/shift" in str(
        error.value)


def test_an_impossible_date_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError, match=r"--set start=2026-13-01: line 1, column 1: not "
                       r"valid YAML: '2026-13-01' is not a date \(month must be in 1..12\)"):
        parse_override("start=2026-13-01")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {reference()}\nstart: 2026-02-30T06:00:00Z\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml: line 2, column 8: not valid YAML: "
                       r"'2026-02-30T06:00:00Z' is not a date"):
        load_scenario(bad)
