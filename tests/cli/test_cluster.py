"""`compare`/`sweep --cluster`: replications on a Dask cluster of worker processes give the
tables of a local run for the same seeds; a bad scheduler address is one line, exit 2."""

from __future__ import annotations

import json
import socket

import pytest

from tests.cli.test_errors_and_scenarios import one_line_error
from tests.cli.test_run_compare import cli
from tests.cli.tiny_scenario import write_tiny

distributed = pytest.importorskip("distributed", reason="Dask distributed not installed")


@pytest.fixture(scope="module")
def scheduler():
    """A scheduler in this process and two worker processes, one thread each."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    return [write_tiny(folder / f"{level}.yaml", name=f"tiny-{level}", connectivity=level)
            for level in ("standalone", "opcua")]


def test_compare_on_the_cluster_prints_the_table_of_a_local_run(scheduler, files):
    argv = ("compare", *map(str, files), "--replications", "3", "--seed", "11",
            "--duration", "1d", "--quiet")
    local = cli(*argv, "--jobs", "1")
    clustered = cli(*argv, "--cluster", scheduler)
    assert local[0] == 0 and "tiny-opcua" in local[1]
    assert clustered == local
    as_json = cli(*argv, "--cluster", scheduler, "--format", "json")
    assert as_json == cli(*argv, "--jobs", "1", "--format", "json")
    runs = json.loads(as_json[1])["scenarios"][1]["replications"]
    assert [run["seed"] for run in runs] == [11, 12, 13]


def test_sweep_on_the_cluster_gives_the_points_of_a_local_run(scheduler, files, tmp_path):
    argv = ("sweep", str(files[1]), "--vary", "orders.interarrival=30m,2h",
            "--replications", "2", "--seed", "3", "--duration", "1d", "--quiet")
    code, _, stderr = cli(*argv, "--cluster", scheduler, "--out", str(tmp_path / "c"))
    assert (code, stderr) == (0, "")
    assert cli(*argv, "--jobs", "1", "--out", str(tmp_path / "l"))[0] == 0
    clustered = json.loads((tmp_path / "c" / "sweep.json").read_text())
    assert clustered == json.loads((tmp_path / "l" / "sweep.json").read_text())
    assert len(clustered["points"]) == 2


@pytest.mark.parametrize(("address", "expected"), [
    ("localhost:8786", "--cluster localhost:8786: expected tcp://SCHEDULER:PORT"),
    ("tcp://127.0.0.1", "--cluster tcp://127.0.0.1: expected tcp://SCHEDULER:PORT"),
    ("tcp://127.0.0.1:99999", "--cluster tcp://127.0.0.1:99999: Port out of range"),
])
def test_a_malformed_scheduler_address_is_one_line(files, address, expected):
    line = one_line_error(*cli("compare", str(files[0]), "--cluster", address), "compare")
    assert expected in line


def test_jobs_and_cluster_together_are_refused(files):
    line = one_line_error(*cli("sweep", str(files[0]), "--vary", "orders.interarrival=1h",
                               "--cluster", "tcp://127.0.0.1:1", "--jobs", "2"), "sweep")
    assert "--jobs: with --cluster" in line


def test_an_unreachable_scheduler_is_one_line_within_the_connect_timeout(files, monkeypatch):
    import factory_cli.dask_cluster

    monkeypatch.setattr(factory_cli.dask_cluster, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    line = one_line_error(*cli("compare", str(files[0]), "--cluster", address,
                               "--duration", "1h"), "compare")
    assert f"--cluster {address}: no Dask scheduler answered within 1 s" in line


def test_a_scheduler_without_workers_is_one_line(files, monkeypatch):
    import factory_cli.dask_cluster

    monkeypatch.setattr(factory_cli.dask_cluster, "CONNECT_TIMEOUT_S", 1)
    with distributed.LocalCluster(n_workers=0, dashboard_address=None,
                                  host="127.0.0.1") as empty:
        line = one_line_error(*cli("compare", str(files[0]), "--cluster",
                                   empty.scheduler_address, "--duration", "1h"), "compare")
    assert f"--cluster {empty.scheduler_address}: the scheduler has no worker" in line
