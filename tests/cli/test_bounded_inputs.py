"""Bounded inputs (#22 item 5): every count has a stated limit, every number is finite, every
name that becomes a topic level or a file name is a slug, and every YAML input is read with
one size, alias-expansion and depth bound. Each bad input: one line naming it, exit code 2."""

from __future__ import annotations

import json
import math
import tracemalloc

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, given, settings

import factory_cli.simulation
from bounded_yaml import MAX_BYTES, MAX_NODES, YamlInputError, load_yaml
from factory_cli.limits import MAX_REPLICATIONS, MAX_RUNS
from mqtt_bridge.config import ConfigError
from mqtt_bridge.config import load as load_bridge_config
from tests.cli.test_errors_and_scenarios import one_line_error
from tests.cli.test_run_compare import cli
from tests.cli.tiny_scenario import write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(write_tiny(tmp_path_factory.mktemp("bounded") / "tiny.yaml"))


def alias_bomb(levels: int = 30, fan: int = 4) -> str:
    """A small document whose aliases expand to fan ** levels values."""
    lines = ["l0: &l0 [lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# -- counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    (["compare", "{tiny}", "--replications", "99999999999"],
     "--replications: expected 1 to 1,000, got 99,999,999,999"),
    (["compare", "{tiny}", "--replications", "-3"], "--replications: expected 1 to 1,000"),
    (["compare", "{tiny}", "--jobs", "100000"], "--jobs: expected 1 to 64, got 100,000"),
    (["compare", *["{tiny}"] * 5, "--replications", "1000"],
     "SCENARIO: 5 × 1,000 replications = 5,000 runs; expected at most 4,000"),
    (["compare", *["{tiny}"] * 21], "SCENARIO: 21 scenarios; expected at most 20"),
    (["sweep", "{tiny}", "--vary", "maintenance.technicians=" + ",".join(map(str, range(1, 52)))],
     "--vary maintenance.technicians: 51 values; expected at most 50"),
    (["sweep", "{tiny}", "--vary", "maintenance.technicians=1,2,3,4,5", "-n", "1000"],
     "--vary maintenance.technicians: 5 × 1,000 replications = 5,000 runs"),
    (["sweep", "{tiny}", "--vary", "maintenance.technicians=1,2", "--replications", "1001"],
     "--replications: expected 1 to 1,000, got 1,001"),
    (["run", "{tiny}", "--seed", str(2**64)], "--seed: expected 0 to"),
    (["run", "{tiny}", "--duration", "11y"], "--duration: expected at most 10y"),
    (["run", "{tiny}", "--warmup", "99999999999999999999999999999y"], "--warmup: expected"),
])
def test_counts_out_of_bounds_give_one_line(tiny, argv, expected):
    command = argv[0]
    line = one_line_error(*cli(*(arg.replace("{tiny}", tiny) for arg in argv)), command)
    assert expected in line


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_help_states_the_bounds(command):
    code, stdout, _ = cli(command, "--help")
    assert code == 0
    text = " ".join(stdout.split())
    assert f"at most {MAX_REPLICATIONS:,}" in text and f"{MAX_RUNS:,}" in text


def test_the_largest_compare_allocates_little_before_its_first_replication(tiny, monkeypatch):
    """Nothing proportional to the experiment is built up front: the peak of Python's
    allocations when the first replication finishes, at the largest accepted size."""
    real_run = factory_cli.simulation.run_job
    seen = {}

    def first_then_stop(job):
        real_run(job)
        seen["peak"] = tracemalloc.get_traced_memory()[1]
        raise KeyboardInterrupt  # stop the experiment here: what came before is measured

    monkeypatch.setattr(factory_cli.simulation, "run_job", first_then_stop)
    tracemalloc.start()
    try:
        code, _, stderr = cli("compare", *[tiny] * 4, "--replications", str(MAX_REPLICATIONS),
                              "--jobs", "1", "--quiet", "--duration", "1h")
    finally:
        tracemalloc.stop()
    assert code == 130 and "interrupted" in stderr
    assert 0 < seen["peak"] < 500 * 2**20
    print(f"peak of traced allocations at the first replication: {seen['peak'] / 2**20:.1f} MB")


# -- finite numbers and slugs --------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    (["run", "{tiny}", "--set", "orders.interarrival=.inf"],
     "--set orders.interarrival=.inf: expected a finite number, got inf"),
    (["run", "{tiny}", "--set", "orders.mix={plate: .nan}"],
     "--set orders.mix={plate: .nan}: expected a finite number, got nan at plate"),
    (["run", "{tiny}", "--set", "orders:={mix: {plate: [1, -.inf]}}"],
     "expected a finite number, got -inf at mix.plate[1]"),
    (["sweep", "{tiny}", "--vary", "orders.interarrival=1h,.inf"],
     "--vary orders.interarrival=.inf: expected a finite number, got inf"),
    (["run", "{tiny}", "--set", "orders.interarrival=" + "9" * 400],
     "--set orders.interarrival: expected a finite duration"),
    (["run", "{tiny}", "--set", "orders.interarrival=0.001s"],
     "--set orders.interarrival: expected at least 1m"),
    (["run", "{tiny}", "--set", "name=a+b/#"], "--set name: expected a slug"),
    (["run", "{tiny}", "--set", "name=../../etc"], "--set name: expected a slug"),
    (["run", "{tiny}", "--set", "hierarchy.site=plant 1"], "--set hierarchy.site: expected a slug"),
    (["run", "{tiny}", "--set", "seed=-1"], "--set seed: Input should be greater than or equal"),
])
def test_non_finite_numbers_and_unsafe_names_give_one_line(tiny, argv, expected):
    line = one_line_error(*cli(*(arg.replace("{tiny}", tiny) for arg in argv)), argv[0])
    assert expected in line


def test_a_scenario_file_with_inf_or_an_unsafe_name_names_the_key(tmp_path, tiny):
    path = tmp_path / "bad.yaml"
    path.write_text(f"base: {tiny}\nname: bad\ncells: [{{name: laser, scrap: .nan}}]\n")
    line = one_line_error(*cli("run", str(path)), "run")
    assert f"{path}: cells[0].scrap" in line and "finite" in line
    path.write_text(f"base: {tiny}\nname: 'a/b'\n")
    line = one_line_error(*cli("run", str(path)), "run")
    assert f"{path}: name: expected a slug" in line


# -- one bounded YAML loader ---------------------------------------------------------------


def test_a_2_kb_alias_bomb_is_refused_by_every_yaml_input(tmp_path, tiny):
    bomb = alias_bomb()
    assert len(bomb.encode()) < 2048
    with pytest.raises(YamlInputError, match=f"more than {MAX_NODES:,} values"):
        load_yaml(bomb, "bomb.yaml")
    scenario = tmp_path / "bomb-scenario.yaml"
    scenario.write_text(bomb)
    assert "refused: more than" in one_line_error(*cli("run", str(scenario)), "run")
    line = one_line_error(*cli("run", tiny, "--set", "description=" + bomb.replace("\n", "\r")),
                          "run")
    assert "refused" in line or "not valid YAML" in line
    config = tmp_path / "bridge.yaml"
    config.write_text(bomb)
    with pytest.raises(ConfigError, match=r"bridge\.yaml: refused: more than"):
        load_bridge_config(config_file=str(config), env={})


def test_a_flow_style_alias_bomb_in_a_set_value_is_refused(tiny):
    pairs = zip("abcdefghij", "bcdefghijk", strict=True)
    value = "{a: &a [x, x, x, x], " + ", ".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}]" for p, c in pairs) + "}"
    line = one_line_error(*cli("run", tiny, "--set", f"hierarchy:={value}"), "run")
    assert "refused: more than 100,000 values" in line


@pytest.mark.parametrize(("text", "expected"), [
    ("a: &a [*a]\n", "nested deeper than 64 levels"),  # a recursive alias
    ("[" * 500 + "]" * 500, "nested deeper than 64 levels"),
    ("x: " + "y" * MAX_BYTES, f"refused: {MAX_BYTES + 3:,} bytes; expected at most {MAX_BYTES:,}"),
    ("a: 1\n---\nb: 2\n", "not valid YAML: expected a single document"),
])
def test_other_unbounded_documents_are_refused_in_one_line(text, expected):
    with pytest.raises(YamlInputError) as refused:
        load_yaml(text, "in.yaml")
    message = str(refused.value)
    assert message.startswith("in.yaml") and expected in message and "\n" not in message


def test_ordinary_aliases_and_merge_keys_still_load():
    text = "base: &b {x: 1, y: [1, 2]}\nfirst: *b\nsecond: {<<: *b, x: 3}\n"
    assert load_yaml(text, "ok.yaml") == {"base": {"x": 1, "y": [1, 2]},
                                          "first": {"x": 1, "y": [1, 2]},
                                          "second": {"x": 3, "y": [1, 2]}}


# -- --set and scenario mutations through `run`: one line or a result, never a traceback ---

KEYS = ["orders.interarrival", "orders.mix", "orders.mix.plate", "orders.lot_sizes", "name",
        "seed", "orders.due", "orders.backlog", "cells.laser.mtbf", "cells.laser.scrap",
        "cells.packing.buffer", "cells[0].setup", "calendar.shifts[0].end",
        "calendar.workdays", "maintenance.technicians", "hierarchy.site", "orders",
        "orders.release.wip_cap", "cells.laser.power.idle", "nothing.here", "cells[7].mtbf"]
SPECIAL = ["{plate: .nan}", "[.inf]", "{a: &a [1], b: *a}", "a+b/#", "1e400", "99999999999y",
           "-5m", "0.5s", "{}", "[]", "null", "~", "!replace {}", "!!python/object:os.system",
           "&x [*x]", ".inf", "-.inf", ".nan", "1m", "10y", "{1: 1}", "{0: 1}", "'06:00'",
           "30:00", "[mon, funday]", "{interarrival: 1h}", "[{x: 1}]", "'\u0000'", "é/ü"]


def _yaml_number(number: float | int) -> str:
    if isinstance(number, float) and math.isnan(number):
        return ".nan"
    if isinstance(number, float) and math.isinf(number):
        return ".inf" if number > 0 else "-.inf"
    return repr(number)


VALUES = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(-2**70, 2**70).map(_yaml_number),
    st.floats(allow_nan=True, allow_infinity=True).map(_yaml_number),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.dictionaries(st.sampled_from(["plate", "disc", "x", "1"]),
                    st.floats(allow_nan=True, allow_infinity=True).map(_yaml_number),
                    max_size=3).map(lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items())
                                    + "}"),
)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(sets=st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(["=", ":="]), VALUES),
                     min_size=1, max_size=3))
def test_set_and_mutations_through_run_never_end_in_a_traceback(tiny, sets):
    argv = ["run", tiny, "--duration", "1d", "--quiet", "--format", "json"]
    for key, separator, value in sets:
        argv += ["--set", f"{key}{separator}{value}"]
    code, stdout, stderr = cli(*argv)  # an exception escaping `main` fails the test here
    assert "Traceback" not in stderr
    if code == 2:
        one_line_error(code, stdout, stderr, "run")
        event("refused with one line")
    else:
        assert code == 0, stderr
        assert json.loads(stdout)["duration_s"] == 86400.0
        event("accepted and ran")


@pytest.mark.parametrize("command", [["serve", "reference-opcua"], ["demo"]])
def test_serve_and_demo_bound_the_seed(command):
    line = one_line_error(*cli(*command, "--seed", str(2**64)), command[0])
    assert "--seed: expected 0 to 18,446,744,073,709,551,615" in line
