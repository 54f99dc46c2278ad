"""`factory-sim sweep`: headline KPIs against one parameter, on the real model."""

from __future__ import annotations

import csv
import json

import pytest

from factory_cli.commands.sweep import split_values
from tests.cli.test_errors_and_scenarios import one_line_error
from tests.cli.test_run_compare import cli
from tests.cli.tiny_scenario import write_tiny


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("sweep") / "tiny.yaml")


@pytest.fixture(scope="module")
def sweep(tiny_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    code, stdout, stderr = cli("sweep", str(tiny_file), "--vary",
                               "orders.interarrival=15m,1h,4h", "--replications", "3",
                               "--duration", "2d", "--seed", "7", "--out", str(out))
    assert (code, stderr) == (0, "")
    return stdout, out, json.loads((out / "sweep.json").read_text())


def test_fewer_orders_arrive_as_the_interarrival_time_grows(sweep):
    _, _, data = sweep
    assert (data["parameter"], data["values"], data["seeds"]) == (
        "orders.interarrival", ["15m", "1h", "4h"], [7, 8, 9])
    released = [p["plant"]["orders_released"]["mean"] for p in data["points"]]
    assert released[0] > released[1] > released[2] > 0
    for point in data["points"]:
        assert [run["seed"] for run in point["replications"]] == [7, 8, 9]
        assert point["plant"]["oee"]["n"] == 3 and point["plant"]["oee"]["half_width"] >= 0


def test_table_csv_and_chart(sweep):
    stdout, out, data = sweep
    assert "tiny: headline KPIs against orders.interarrival" in stdout
    assert "mean ± 95 % CI over 3 replications" in stdout
    assert "OEE [%]" in stdout and "Lead time, mean [h]" in stdout
    assert any(line.strip("│ ").startswith("4h") for line in stdout.splitlines())
    with open(out / "sweep.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["orders.interarrival"] for row in rows] == ["15m", "1h", "4h"]
    assert float(rows[1]["OEE [%] mean"]) == pytest.approx(
        data["points"][1]["plant"]["oee"]["mean"] * 100)
    assert (out / "sweep.png").read_bytes().startswith(b"\x89PNG")


def test_a_mapping_value_can_be_swept_and_replaced(tiny_file):
    code, stdout, _ = cli("sweep", str(tiny_file), "--vary", "orders.mix:={plate: 1},{disc: 1}",
                          "--duration", "1d", "--format", "json")
    assert code == 0
    data = json.loads(stdout)
    assert data["values"] == ["{plate: 1}", "{disc: 1}"]


def test_values_split_only_outside_brackets():
    assert split_values("1, 2,{a: 1, b: 2},[x, y]") == ["1", "2", "{a: 1, b: 2}", "[x, y]"]


@pytest.mark.parametrize(("vary", "expected"), [
    ("orders.interarrival", "expected key.path=v1,v2,..."),
    ("orders.interarrival=1h,,2h", "expected key.path=v1,v2,..."),
    ("orders.interarrival=1h,0s", "--vary orders.interarrival: expected a duration longer than"),
    ("cells.drill.mtbf=1h", "--vary cells.drill.mtbf=1h: cells has no item named 'drill'"),
])
def test_bad_vary_gives_one_line(tiny_file, vary, expected):
    line = one_line_error(*cli("sweep", str(tiny_file), "--vary", vary), "sweep")
    assert expected in line


def test_paired_differences_against_a_baseline_level_at_every_value(tmp_path):
    tiny = write_tiny(tmp_path / "tiny-opcua.yaml", connectivity="opcua")
    out = tmp_path / "out"
    code, stdout, stderr = cli("sweep", str(tiny), "--vary", "orders.interarrival=30m,2h",
                               "--baseline-level", "standalone", "-n", "3", "--duration", "2d",
                               "--seed", "5", "--out", str(out))
    assert (code, stderr) == (0, "")
    data = json.loads((out / "sweep.json").read_text())
    assert data["baseline_level"] == "standalone"
    for point in data["points"]:
        base = [r["plant"]["repairs"]["detection_s"] for r in point["baseline_replications"]]
        mine = [r["plant"]["repairs"]["detection_s"] for r in point["replications"]]
        found = point["difference_to_baseline"]["repairs.detection_s"]
        pairs = [b - a for a, b in zip(base, mine, strict=True) if a is not None and b is not None]
        assert found["mean"] == pytest.approx(sum(pairs) / len(pairs))
        assert found["mean"] < 0  # alarms reach maintenance sooner than somebody notices
    assert "the same at standalone, at each orders.interarrival" in stdout
    assert (out / "sweep_differences.png").read_bytes().startswith(b"\x89PNG")


def test_a_baseline_level_needs_replications(tiny_file):
    code, _, stderr = cli("sweep", str(tiny_file), "--vary", "orders.interarrival=1h",
                          "--baseline-level", "standalone")
    assert code == 2 and "--baseline-level standalone: paired differences need" in stderr
