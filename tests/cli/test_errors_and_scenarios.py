"""Bad input gets one clear line and exit code 2; `factory-sim scenarios` lists what can run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from factory_sim.shipped import shipped_scenarios_dir
from tests.cli.test_run_compare import cli
from tests.cli.tiny_scenario import tiny, write_tiny


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenarios")
    write_tiny(folder / "tiny.yaml")
    bad = tiny()
    bad["cells"][0]["mtbf"] = "often"
    write_tiny(folder / "broken.yaml", cells=bad["cells"])
    (folder / "garbled.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    return folder


def one_line_error(code: int, stdout: str, stderr: str, command: str) -> str:
    assert code == 2
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"factory-sim {command}: error: ")
    return lines[0]


@pytest.mark.parametrize(("flags", "expected"), [
    (["--duration", "5x"], "--duration: expected a duration like 90m, 8h, 5d or 1y, got '5x'"),
    (["--duration", "0s"], "--duration: expected a duration longer than zero"),
])
def test_bad_duration(folder, flags, expected):
    line = one_line_error(*cli("run", str(folder / "tiny.yaml"), *flags), "run")
    assert expected in line


def test_bad_scenario_file_names_file_and_key(folder):
    line = one_line_error(*cli("run", str(folder / "broken.yaml")), "run")
    assert str(folder / "broken.yaml") in line
    assert "cells[0].mtbf" in line and "often" in line


def test_invalid_yaml_names_the_line(folder):
    line = one_line_error(*cli("compare", str(folder / "tiny.yaml"),
                               str(folder / "garbled.yaml")), "compare")
    assert "garbled.yaml" in line and "line 2" in line and "not valid YAML" in line


def test_unknown_scenario(folder):
    line = one_line_error(*cli("run", "no-such-scenario"), "run")
    assert "scenario 'no-such-scenario': no such file" in line


def test_out_that_is_a_file(folder):
    line = one_line_error(*cli("run", str(folder / "tiny.yaml"), "--out",
                               str(folder / "tiny.yaml")), "run")
    assert "--out" in line and "cannot create the folder" in line


@pytest.mark.parametrize(("flags", "expected"), [
    (["--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags_are_refused_by_the_parser_with_exit_2(folder, flags, expected):
    code, stdout, stderr = cli("run", str(folder / "tiny.yaml"), *flags)
    assert (code, stdout) == (2, "")
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]  # after argparse's usage line
    assert last.startswith("factory-sim") and ": error: " in last and expected in last


def test_the_installed_command_prints_no_traceback(folder):
    result = subprocess.run(
        [sys.executable, "-m", "factory_cli.main", "run", str(folder / "broken.yaml")],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("factory-sim run: error: ")


def test_scenarios_lists_a_folder_with_descriptions_and_problems(folder):
    code, stdout, stderr = cli("scenarios", str(folder))
    assert (code, stderr) == (0, "")
    assert "Two cells, one shift a day, exact cycle times: for tests." in stdout
    tiny_row = next(line for line in stdout.splitlines() if "tiny.yaml" in line)
    assert "opcua" in tiny_row
    broken_row = next(line for line in stdout.splitlines() if "broken.yaml" in line)
    assert "invalid" in broken_row


def test_scenarios_of_a_missing_folder(tmp_path):
    line = one_line_error(*cli("scenarios", str(tmp_path / "nope")), "scenarios")
    assert "no such directory" in line


def test_the_shipped_scenarios_are_listed_by_name_and_valid():
    folder = shipped_scenarios_dir()
    names = sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))
    assert {"reference-opcua", "multisite/lyon", "labs/connect-cobot"} <= set(names)
    code, stdout, _ = cli("scenarios")
    assert code == 0
    rows = {name: next(line for line in stdout.splitlines() if f" {name} " in line)
            for name in names}
    assert not [row for row in rows.values() if "invalid" in row]
    assert " mixed " in rows["mixed"].split("│")[3]  # one level per cell
    assert " standalone " in rows["reference-standalone"]


def test_a_scenario_may_base_on_a_shipped_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text("base: multisite/lyon\nname: mine\nseed: 9\n")
    code, stdout, stderr = cli("run", "mine.yaml", "--duration", "1d", "--format", "json", "-q")
    assert (code, stderr) == (0, "")
    assert json.loads(stdout)["scenario"] == "mine"
    (tmp_path / "bad.yaml").write_text("base: no-such-plant\nname: bad\n")
    line = one_line_error(*cli("run", "bad.yaml"), "run")
    assert "base: no scenario file no-such-plant next to this one, nor a shipped" in line


def test_shipped_names_do_not_escape_the_shipped_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_line_error(*cli("run", "../factory_sim/scenarios/reference-opcua"), "run")
    assert "nor a shipped scenario of that name" in line
