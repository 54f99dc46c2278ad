"""`factory-sim run` and `compare` end to end, on the real model with a tiny scenario.

Each command runs once per module (a simulated day takes milliseconds); the tests read
what it printed and wrote.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json

import pytest

from factory_cli.main import main
from factory_sim.event_log import read_event_log
from factory_sim.kpi import KpiAccounting
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario
from tests.cli.tiny_scenario import write_tiny

DAY = 86400.0


def cli(*argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `factory-sim ARGV`, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse refusing a flag
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("scenarios") / "tiny.yaml")


@pytest.fixture(scope="module")
def json_run(tiny_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code, stdout, stderr = cli("run", str(tiny_file), "--duration", "1d", "--seed", "5",
                               "--out", str(out), "--format", "json")
    assert (code, stderr) == (0, "")
    return json.loads(stdout), out


def test_run_json_has_plant_and_every_cell(json_run):
    data, _ = json_run
    assert (data["scenario"], data["seed"], data["duration_s"]) == ("tiny", 5, DAY)
    assert [cell["cell"] for cell in data["cells"]] == ["laser", "packing"]
    for cell in data["cells"]:
        assert sum(cell["state_times_s"].values()) == pytest.approx(DAY)
        # Exact cycle times and no short stops: the cells run exactly at plan speed.
        assert cell["performance"] == pytest.approx(1.0)
    plant = data["plant"]
    assert 0 < plant["oee"] < 1
    assert plant["oee"] == pytest.approx(
        plant["availability"] * plant["performance"] * plant["quality"])
    assert plant["orders_completed"] > 0 and plant["good_parts"] > 0


def test_run_writes_the_event_log_and_kpi_files(json_run):
    data, out = json_run
    assert json.loads((out / "kpis.json").read_text()) == data
    events = list(read_event_log(out / "events.jsonl"))
    assert len(events) == data["events"] > 0
    with open(out / "kpis_cells.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["cell"] for row in rows] == ["laser", "packing"]
    assert float(rows[0]["oee"]) == pytest.approx(data["cells"][0]["oee"])
    assert "repairs.mttr_s" in rows[0] and "state_times_s.producing" in rows[0]


def test_kpis_recomputed_from_the_event_log_match_the_run(json_run, tiny_file):
    data, out = json_run
    plant = Plant(load_scenario(tiny_file), seed=5)
    kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
    for event in read_event_log(out / "events.jsonl"):
        kpis(event)
    replayed = kpis.report(DAY).as_dict()
    assert json.loads(json.dumps(replayed)) == {
        key: value for key, value in data.items()
        if key not in ("scenario", "seed", "duration_s", "warmup_s", "events")}


def test_run_prints_a_kpi_table_with_plant_and_cells(tiny_file):
    code, stdout, stderr = cli("run", str(tiny_file), "--duration", "8h", "--quiet")
    assert (code, stderr) == (0, "")
    assert "KPIs of tiny" in stdout
    for text in ("OEE [%]", "Availability", "MTTR [min]", "Lead time, mean [h]", "plant",
                 "laser", "packing"):
        assert text in stdout
    # The state times: 06:00-08:00 of the 8 hours are in the shift, the rest is not.
    assert "Where the time went" in stdout
    off_shift = next(line for line in stdout.splitlines() if "off shift" in line)
    assert "UNPLANNED" in off_shift and "6.0 (75%)" in off_shift


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    files = [write_tiny(folder / f"{level}.yaml", name=f"tiny-{level}", connectivity=level)
             for level in ("standalone", "opcua")]
    out = folder / "out"
    code, stdout, stderr = cli("compare", *map(str, files), "--seed", "11", "--duration",
                               "2d", "--out", str(out))
    assert (code, stderr) == (0, "")
    return stdout, out


def test_compare_prints_scenarios_side_by_side(comparison):
    stdout, _ = comparison
    assert "seed 11 for all" in stdout
    header = next(line for line in stdout.splitlines() if "tiny-standalone" in line)
    assert "KPI" in header and "tiny-opcua" in header
    assert "Information latency, mean [s]" in stdout


@pytest.mark.parametrize("name", ["oee.png", "throughput.png", "lead_time.png", "mttr.png",
                                  "information_latency.png"])
def test_compare_writes_png_charts(comparison, name):
    _, out = comparison
    data = (out / name).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_compare_json_and_csv_show_the_connectivity_effect(comparison):
    _, out = comparison
    data = json.loads((out / "compare.json").read_text())
    standalone, opcua = data["scenarios"]
    assert data["seed"] == standalone["seed"] == opcua["seed"] == 11
    assert (standalone["name"], opcua["name"]) == ("tiny-standalone", "tiny-opcua")
    # Paper shift reports against a 1 s publishing interval.
    assert standalone["plant"]["information"]["latency_s"]["mean"] > 3600
    assert opcua["plant"]["information"]["latency_s"]["mean"] == pytest.approx(1.0)
    assert standalone["plant"]["information"]["shift_reports"] > 0
    with open(out / "compare.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["kpi", "unit", "tiny-standalone", "tiny-opcua"]
    oee = next(row for row in rows if row[0] == "OEE")
    assert float(oee[2]) == pytest.approx(standalone["plant"]["oee"] * 100)


def test_compare_reports_the_network_outage_as_a_kpi(tmp_path):
    """Connectivity's own failure mode is a KPI: hours the plant network was down (a
    stand-alone plant has none to lose)."""
    outage = {"scheduled": [{"at": "7h", "duration": "3h"}]}
    files = [write_tiny(tmp_path / f"{level}.yaml", name=f"tiny-{level}", connectivity=level,
                        network=outage) for level in ("standalone", "opcua")]
    code, stdout, stderr = cli("compare", *map(str, files), "--duration", "1d", "--jobs", "1")
    assert (code, stderr) == (0, "")
    row = next(line for line in stdout.splitlines() if "Network outage [h]" in line)
    assert [cell.strip() for cell in row.split("│")][-3:-1] == ["0.0", "3.0"]
    code, stdout, _ = cli("compare", *map(str, files), "--duration", "1d", "--jobs", "1",
                          "--format", "json")
    standalone, opcua = json.loads(stdout)["scenarios"]
    assert standalone["plant"]["network_outage_s"] == 0
    assert (opcua["plant"]["network_outage_s"], opcua["plant"]["network_outages"]) == (10800, 1)
