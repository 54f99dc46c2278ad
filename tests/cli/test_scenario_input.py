"""Every bad scenario gives one line naming the file, the key path as the user wrote it and what
was expected (issue #10 item 5); `--set` is checked exactly as the file is and can replace.
"""

from __future__ import annotations

import copy
import json

import hypothesis.strategies as st
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings

from factory_cli.simulation import simulate
from factory_sim.scenario import (
    Replace,
    ScenarioError,
    load_scenario,
    parse_override,
    scenario_from_dict,
)
from tests.cli.test_errors_and_scenarios import one_line_error
from tests.cli.test_run_compare import cli
from tests.cli.tiny_scenario import TINY, write_tiny


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("input")
    write_tiny(folder / "tiny.yaml")
    return folder


def variant(folder, name: str, text: str):
    path = folder / f"{name}.yaml"
    path.write_text(f"base: tiny.yaml\nname: {name}\n{text}\n", encoding="utf-8")
    return path


# Each bad value, written in a file based on tiny.yaml: the key path is where it stands in
# *that* file (packing is the second cell of tiny.yaml but the first of the variant).
BAD = [
    ("cells: [{name: packing, mtbf: 0s}]", "cells[0].mtbf", "longer than zero"),
    ("cells: [{name: packing, mttr: 0s}]", "cells[0].mttr", "longer than zero"),
    ("orders: {interarrival: 0s}", "orders.interarrival", "longer than zero"),
    ("cells: [{name: packing, short_stops: {probability: 0.1, mean: 0s}}]",
     "cells[0].short_stops.mean", "longer than zero"),
    ("maintenance: {detection_standalone: 0s}", "maintenance.detection_standalone",
     "longer than zero"),
    ("calendar: {workdays: []}", "calendar.workdays", "at least 1 item"),
    ("orders: {lot_sizes: !replace {0: 1}}", "orders.lot_sizes", "greater than or equal to 1"),
    ("orders: {lot_sizes: !replace {-4: 1}}", "orders.lot_sizes", "greater than or equal to 1"),
    ("cells: [{name: packing, scrap: 0.6, rework: 0.5}]", "cells[0]",
     "expected scrap + rework of at most 1, got 0.6 + 0.5"),
    ("duration: 0s", "duration", "expected a duration longer than zero"),
    ("duration: 500y", "duration", "expected at most 10y"),
]


@pytest.mark.parametrize(("text", "where", "expected"), BAD)
def test_bad_values_name_file_key_as_written_and_expectation(folder, text, where, expected):
    path = variant(folder, "bad", text)
    line = one_line_error(*cli("run", str(path), "-q"), "run")
    assert f"{path}: {where}" in line
    assert expected in line


def test_a_key_from_the_base_file_is_reported_in_the_base_file(folder):
    base = write_tiny(folder / "broken-base.yaml", duration="soon")
    path = folder / "on-broken-base.yaml"
    path.write_text("base: broken-base.yaml\nname: x\n", encoding="utf-8")
    line = one_line_error(*cli("run", str(path)), "run")
    assert f"{base}: duration: expected a duration like" in line


def test_a_binary_file_a_folder_and_a_negative_duration_get_clear_lines(folder):
    binary = folder / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    line = one_line_error(*cli("run", str(binary)), "run")
    assert str(binary) in line and "expected a YAML text file" in line
    line = one_line_error(*cli("run", str(folder)), "run")
    assert "is a folder; expected a scenario file" in line
    line = one_line_error(*cli("run", str(folder / "tiny.yaml"), "--duration", "-5d"), "run")
    assert line.endswith("--duration: expected a duration longer than zero, got '-5d'")
    line = one_line_error(*cli("run", str(folder / "tiny.yaml"), "--duration", "50y"), "run")
    assert "expected at most 10y" in line


def test_several_problems_stay_on_one_line(folder):
    path = variant(folder, "two", "seed: x\ncells: [{name: laser, mtbf: 0s}]")
    line = one_line_error(*cli("run", str(path)), "run")
    assert "seed: " in line and "cells[0].mtbf: " in line


# -- --set ------------------------------------------------------------------------------------


def test_set_changes_values_by_cell_name_and_index(folder):
    scenario = load_scenario(folder / "tiny.yaml", [
        parse_override("cells.packing.mttr=45m"), parse_override("cells[0].scrap=0.2"),
        parse_override("maintenance.technicians=3"),
        parse_override("calendar.shifts[0].end=15:00")])
    assert scenario.cells[1].mttr == 45 * 60
    assert scenario.cells[0].scrap == 0.2
    assert scenario.maintenance.technicians == 3
    assert scenario.calendar.shifts[0].end == 15 * 3600


def test_set_merges_a_mapping_and_colon_equals_replaces_it(folder):
    merged = load_scenario(folder / "tiny.yaml", [parse_override("orders.mix={disc: 5}")])
    assert merged.orders.mix == {"plate": 2, "disc": 5}
    replaced = load_scenario(folder / "tiny.yaml", [parse_override("orders.mix:={disc: 5}")])
    assert replaced.orders.mix == {"disc": 5}
    assert isinstance(parse_override("orders.mix:={a: 1}").value, Replace)


def test_replace_tag_in_a_file(folder):
    path = variant(folder, "only-discs", "orders: {mix: !replace {disc: 1}}")
    assert load_scenario(path).orders.mix == {"disc": 1}
    path = variant(folder, "discs-too", "orders: {mix: {disc: 1}}")
    assert load_scenario(path).orders.mix == {"plate": 2, "disc": 1}
    path = variant(folder, "bad-tag", "orders: {mix: !replace [disc]}")
    with pytest.raises(ScenarioError, match="expected a mapping after !replace"):
        load_scenario(path)


@pytest.mark.parametrize(("option", "expected"), [
    ("orders.interarrival=0s", "--set orders.interarrival: expected a duration longer than zero"),
    ("cells.packing.mtbf=often", "--set cells.packing.mtbf: expected a duration like 90m"),
    ("cells.drill.mtbf=1h", "--set cells.drill.mtbf=1h: cells has no item named 'drill'; "
     "expected one of laser, packing"),
    ("cells[7].mtbf=1h", "cells has 2 items; expected an index below 2, got [7]"),
    ("orders.colour=red", "--set orders.colour: unknown key"),
    ("seed.x=1", "--set seed.x=1: seed is a single value"),
    ("orders.mix:=3", "`:=` replaces a mapping"),
    ("orders.mix.plate", "expected key.path=value"),
    ("orders..mix=1", "expected a key path like"),
    ("orders.mix={a: [", "not valid YAML: did not find expected node content"),
    ("calendar.workdays=[]", "--set calendar.workdays: List should have at least 1 item"),
])
def test_set_is_validated_like_the_file_and_names_the_key(folder, option, expected):
    line = one_line_error(*cli("run", str(folder / "tiny.yaml"), "--set", option), "run")
    assert expected in line


def test_set_on_compare_applies_to_every_scenario(folder, tmp_path):
    code, stdout, stderr = cli("compare", str(folder / "tiny.yaml"), str(folder / "tiny.yaml"),
                               "--duration", "8h", "--set", "orders.interarrival=10h",
                               "--format", "json")
    assert (code, stderr) == (0, "")
    for scenario in json.loads(stdout)["scenarios"]:
        assert scenario["plant"]["orders_released"] <= 2


def test_set_on_serve_is_checked_before_the_server_starts(folder):
    line = one_line_error(*cli("serve", str(folder / "tiny.yaml"), "--port", "1",
                               "--set", "cells.laser.mttr=0s"), "serve")
    assert "--set cells.laser.mttr: expected a duration longer than zero" in line


# -- property: any mutation of a valid scenario runs or gives one clear line -----------------


def _paths(node, prefix=()):
    """Every key path into the tiny scenario (mappings and list items)."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


PATHS = sorted(_paths(TINY), key=str)
VALUES = st.one_of(
    st.sampled_from(["0s", "-1h", "1s", "90m", "5d", "40y", "often", "", "06:00", "25:00",
                     "opcua", "punch_laser", "laser", "plate", "mon"]),
    st.integers(-3, 10), st.floats(-1.0, 2.0, allow_nan=False), st.booleans(), st.none(),
    st.lists(st.sampled_from(["mon", "laser", "x", 0]), max_size=3),
    st.dictionaries(st.sampled_from(["plate", "disc", "mean", "start", 3]),
                    st.one_of(st.integers(-1, 3), st.sampled_from(["0s", "1h"])), max_size=2),
)


# A nudge keeps a value's kind (a number times a factor, another duration), so that many
# mutants stay valid and run, not only the obviously broken ones.
_FACTORS = st.sampled_from([0, 0.01, 0.5, 2, 50])
NUDGES = st.one_of(st.none(), _FACTORS, _FACTORS)
DURATIONS = ["1s", "45s", "5m", "2h", "3d"]


def _mutant(original, value, nudge):
    if nudge is None or isinstance(original, bool):
        return value
    if isinstance(original, int | float):
        return type(original)(original * nudge)
    if isinstance(original, str) and original[:1].isdigit() and ":" not in original:
        return DURATIONS[int(nudge) % len(DURATIONS)]
    return value


@settings(max_examples=300, deadline=10_000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), VALUES, NUDGES), min_size=1,
                          max_size=3),
       drop=st.booleans())
def test_a_mutated_scenario_runs_or_gives_one_clear_error(mutations, drop):
    data = copy.deepcopy(TINY)
    for path, value, nudge in mutations:
        node = data
        try:
            for key in path[:-1]:
                node = node[key]
            if drop and isinstance(node, dict) and nudge is None:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = _mutant(node[path[-1]], value, nudge)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation changed the shape under this path
    try:
        scenario = scenario_from_dict(yaml.safe_load(yaml.safe_dump(data)), source="m.yaml")
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith("m.yaml: ") and "\n" not in message
        assert "Traceback" not in message
        event("refused with one line")
        return
    # A scenario the loader accepts must run: no crash, no endless loop at one instant.
    result = simulate(scenario, duration=min(scenario.duration, 2 * 86400.0))
    assert result.report.simulated_s > 0
    event("accepted and ran")
