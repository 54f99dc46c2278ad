"""`compare --attribute`: each step split into its mechanisms, on the real model."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_run_compare import cli
from tests.cli.tiny_scenario import write_tiny


@pytest.fixture(scope="module")
def attributed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attribute")
    files = [write_tiny(folder / f"{level}.yaml", name=f"tiny-{level}", connectivity=level)
             for level in ("standalone", "opcua", "unified")]
    out = folder / "out"
    code, stdout, stderr = cli("compare", *map(str, files), "-n", "3", "--seed", "7",
                               "--duration", "3d", "--differences", "previous", "--attribute",
                               "--out", str(out))
    assert (code, stderr) == (0, "")
    return stdout, out, json.loads((out / "compare.json").read_text())


def test_each_step_is_split_into_the_mechanisms_it_changes(attributed):
    _, _, data = attributed
    first, second = data["attribution"]
    assert (first["before"], first["after"]) == ("tiny-standalone", "tiny-opcua")
    assert first["mechanisms"] == ["notification", "job_data", "information", "dispatch",
                                   "standby"]
    assert second["mechanisms"] == ["sequencing", "maintenance"]
    assert all(first["sources"][m] for m in first["mechanisms"])


def test_contributions_and_interaction_sum_to_the_step_shown_beside_it(attributed):
    _, _, data = attributed
    for step, scenario in zip(data["attribution"], data["scenarios"][1:], strict=True):
        for path, terms in step["figures"].items():
            if terms["step"]["mean"] is None:
                continue
            total = (sum(c["mean"] for c in terms["contributions"].values())
                     + terms["interaction"]["mean"])
            assert total == pytest.approx(terms["step"]["mean"], abs=1e-9), path
            if terms["step"]["n"] == 3:  # defined in every replication: the paired difference
                assert terms["step"]["mean"] == pytest.approx(
                    scenario["difference_to_previous"][path]["mean"], abs=1e-9), path


def test_the_table_and_the_waterfall_chart(attributed):
    stdout, out, _ = attributed
    assert "tiny-standalone → tiny-opcua: contribution of each mechanism" in stdout
    assert "interaction rest" in stdout and "the step" in stdout
    assert (out / "attribution.png").read_bytes().startswith(b"\x89PNG")


def test_attribution_needs_replications_and_two_scenarios(tmp_path):
    tiny = write_tiny(tmp_path / "t.yaml")
    code, _, stderr = cli("compare", str(tiny), str(tiny), "--attribute")
    assert code == 2
    assert "--attribute: attributing a step needs two or more scenarios and --replications" \
        in stderr
