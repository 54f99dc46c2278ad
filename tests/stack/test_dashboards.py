"""The provisioned Grafana dashboards: well-formed, one datasource, no overlapping panels, and
every panel query *executed* against a real InfluxQL engine holding what the real bridge wrote.

Two sites run for real (`factory-sim serve` of the shipped multisite/lyon and multisite/brno,
Brno with two lines, each with its own `factory-sim bridge`), fast enough to cover more than a
simulated working day; the bridges write line protocol into Debian's InfluxDB through
`V2WriteRelay` (see tests/stack/influxql.py). Then each dashboard variable is resolved by its own
query, Grafana's `$timeFilter`/`$__interval` are expanded, and every query must return data.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import time
from collections.abc import Iterator

import pytest
import yaml

from tests.services import free_port
from tests.stack.compose import ROOT
from tests.stack.grafana import expand, interval_text, regex_value, variable_names
from tests.stack.influxql import InfluxQL, V2WriteRelay
from tests.stack.processes import log_tails, start, start_server, stop


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "make_dashboards", ROOT / "deploy/grafana/make_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_dashboards = _load_generator()

DASHBOARDS = ROOT / "deploy/grafana/dashboards"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources/influxdb.yaml"
SITES = {"lyon": [], "brno": ["--lines", "2"]}
NODES_SAMPLE = ROOT / "mqtt_bridge/inputs/opcua/nodes.example.toml"
SPEED = "7200"  # two simulated hours per second
SIMULATED_HOURS = 30  # past a whole working day: failures, tool changes, alarms


def dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def test_the_files_are_what_make_dashboards_writes() -> None:
    expected = {f"{name}.json": make_dashboards.render(build)
                for name, build in make_dashboards.BUILDERS.items()}
    assert {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")} == expected, (
        "run deploy/grafana/make_dashboards.py")


def test_five_dashboards_with_unique_uids_and_site_line_cell_variables() -> None:
    boards = dashboards()
    titles = sorted(board["title"] for board in boards.values())
    assert titles == ["Alarms and events", "Andon board", "Energy", "Machine detail",
                      "Plant overview"]
    assert len({board["uid"] for board in boards.values()}) == len(boards)
    for board in boards.values():
        assert [v["name"] for v in board["templating"]["list"]] == ["site", "line", "cell"]


def test_every_panel_and_query_names_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    expected = {"type": provisioned["type"], "uid": provisioned["uid"]}
    assert provisioned["jsonData"]["version"] == "InfluxQL"
    for name, board in dashboards().items():
        for variable in board["templating"]["list"]:
            assert variable["datasource"] == expected, (name, variable["name"])
        for panel in board["panels"]:
            assert panel["datasource"] == expected, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == expected, (name, panel["title"])
                assert target["rawQuery"] is True


def test_panels_fit_the_grid_and_do_not_overlap() -> None:
    for name, board in dashboards().items():
        cells: dict[tuple[int, int], str] = {}
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["y"] >= 0 and grid["x"] + grid["w"] <= 24
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{name}: {panel['title']} overlaps " \
                        f"{cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


@pytest.fixture(scope="module")
def plant_data(influxql: InfluxQL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two sites served and bridged into the InfluxQL engine; the time range they cover."""
    work = tmp_path_factory.mktemp("dashboards")
    relay = V2WriteRelay(influxql)
    processes: list[subprocess.Popen] = []
    try:
        for site, extra in SITES.items():
            port = free_port()
            processes.append(start_server(
                ["serve", f"multisite/{site}", *extra, "--port", str(port),
                 "--speed", SPEED, "--history"], port, work / f"serve-{site}.log"))
            # the plant's own KPIs as the [[nodes]] sample bridges them, under the site
            config = work / f"bridge-{site}.toml"
            config.write_text(NODES_SAMPLE.read_text().replace(
                'topic = "plant"\ngroup = "kpi"',
                f'topic = "{site}/all/all/plant"\ngroup = "kpi"'))
            assert f'topic = "{site}/all/all/plant"' in config.read_text()
            processes.append(start(
                ["bridge", "--config", str(config),
                 "--opcua", f"opc.tcp://127.0.0.1:{port}", "--influx", relay.url,
                 "--bucket", "factory", "--org", "factory-sim", "--enterprise", "acme-metal",
                 "--client-id", f"bridge-{site}", "--state-dir", str(work / f"state-{site}"),
                 "--log-level", "WARNING"], work / f"bridge-{site}.log"))
        deadline = time.monotonic() + 120
        while (span := _span(influxql)) is None or span[1] - span[0] < SIMULATED_HOURS * 3.6e6:
            for process in processes:
                assert process.poll() is None, log_tails(work)
            assert time.monotonic() < deadline, f"too little data: {span}\n{log_tails(work)}"
            time.sleep(1)
    finally:
        stop(processes)
        relay.close()
    assert relay.bodies
    yield {"start": span[0], "end": span[1]}


def _span(database: InfluxQL) -> tuple[int, int] | None:
    """First and last time (ms) of the item states of the site served second (brno)."""
    times = []
    for selector in ("first", "last"):
        result = database.query(f'SELECT {selector}("CurrentState") FROM "machine_state" '
                                "WHERE \"site\" = 'brno'", db="factory", epoch="ms")
        if "series" not in result:
            return None
        times.append(result["series"][0]["values"][0][0])
    return times[0], times[1]


def resolve_variables(database: InfluxQL, board: dict, data: dict,
                      chosen: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Each variable's options from its own query (in order, as Grafana refreshes them), set
    to All (multi) or to `chosen`; formatted for InfluxQL regexes."""
    values: dict[str, str] = {}
    options: dict[str, list[str]] = {}
    for variable in board["templating"]["list"]:
        query = expand(variable["query"], values, data["start"], data["end"], "1m")
        result = database.query(query, db="factory")
        found = [row[1] for series in result.get("series", []) for row in series["values"]]
        assert found, f"{board['title']}: variable {variable['name']} has no options"
        options[variable["name"]] = found
        picked = (chosen or {}).get(variable["name"]) or (
            found if variable["multi"] else found[:1])
        assert set(picked) <= set(found), (variable["name"], picked, found)
        values[variable["name"]] = regex_value(picked, variable["multi"])
    return values


def run_panel_queries(database: InfluxQL, board: dict, variables: dict[str, str],
                      data: dict) -> dict[tuple[str, str], list[dict]]:
    interval = interval_text((data["end"] - data["start"]) / 1000 / 300)
    results = {}
    for panel in board["panels"]:
        for target in panel["targets"]:
            assert set(variable_names(target["query"])) - {"timeFilter", "__interval"} <= set(
                variables), target["query"]
            query = expand(target["query"], variables, data["start"], data["end"], interval)
            series = database.query(query, db="factory").get("series", [])
            results[(panel["title"], target["refId"])] = series
    return results


def has_values(series: list[dict]) -> bool:
    return any(value is not None for s in series for row in s["values"] for value in row[1:])


@pytest.mark.parametrize("name", sorted(make_dashboards.BUILDERS))
def test_every_panel_query_returns_data(influxql, plant_data, name) -> None:
    board = json.loads((DASHBOARDS / f"{name}.json").read_text())
    cells = [None]
    if not board["templating"]["list"][2]["multi"]:  # one machine at a time: try each
        result = influxql.query('SHOW TAG VALUES FROM "machine_state" WITH KEY = "cell"',
                                db="factory")
        cells = [row[1] for row in result["series"][0]["values"]]
        assert len(cells) == 12
    for cell in cells:
        variables = resolve_variables(influxql, board, plant_data,
                                      {"cell": [cell]} if cell else None)
        for (title, ref), series in run_panel_queries(influxql, board, variables,
                                                      plant_data).items():
            assert has_values(series), f"{name}: {title} ({ref}), cell {cell}: no data"


@pytest.mark.parametrize("name", sorted(make_dashboards.BUILDERS))
def test_the_site_and_line_variables_filter(influxql, plant_data, name) -> None:
    board = json.loads((DASHBOARDS / f"{name}.json").read_text())
    for site, line in (("lyon", "line-1"), ("brno", "line-02")):
        variables = resolve_variables(influxql, board, plant_data,
                                      {"site": [site], "line": [line]})
        for (title, ref), series in run_panel_queries(influxql, board, variables,
                                                      plant_data).items():
            assert has_values(series), f"{name}: {title} ({ref}) for {site}/{line}: no data"
            for one in series:
                tags = one.get("tags", {})
                assert tags.get("site", site) == site and tags.get("line", line) == line
                if "site" in one.get("columns", []):  # tables of raw rows
                    index = one["columns"].index("site")
                    assert {row[index] for row in one["values"]} == {site}


def test_the_plant_oee_is_the_bridged_plant_kpi_per_site(influxql, plant_data) -> None:
    board = json.loads((DASHBOARDS / "plant-overview.json").read_text())
    variables = resolve_variables(influxql, board, plant_data)
    stat = board["panels"][0]
    assert stat["title"] == "Plant OEE, A, P, Q"
    assert """FROM "kpi" """ in stat["targets"][0]["query"]
    assert """"cell" = 'plant'""" in stat["targets"][0]["query"]
    series = run_panel_queries(influxql, {**board, "panels": [stat]}, variables,
                               plant_data)[(stat["title"], "A")]
    assert sorted(one["tags"]["site"] for one in series) == sorted(SITES)
    for one in series:
        row = dict(zip(one["columns"], one["values"][-1], strict=True))
        assert 0 < row["OEE"] <= 1 and 0 < row["Availability"] <= 1, row
        assert abs(row["OEE"] - row["Availability"] * row["Performance"] * row["Quality"]) \
            < 0.01, row  # ISO 22400: the plant's figures, not a mean of the cells'


def test_a_query_without_data_would_be_caught(influxql, plant_data) -> None:
    board = json.loads((DASHBOARDS / "energy.json").read_text())
    variables = resolve_variables(influxql, board, plant_data)
    panel = board["panels"][0]
    wrong = {**panel, "targets": [{**panel["targets"][0], "query": panel["targets"][0][
        "query"].replace('"Power"', '"Powr"')}]}
    results = run_panel_queries(influxql, {**board, "panels": [wrong]}, variables, plant_data)
    assert not any(has_values(series) for series in results.values())
    elsewhere = {**variables, "site": regex_value(["atlantis"], True)}
    results = run_panel_queries(influxql, board, elsewhere, plant_data)
    assert not any(has_values(series) for series in results.values())


def test_the_dashboards_open_on_now_and_show_a_plant_started_now(influxql, tmp_path) -> None:
    """As docker-compose.yml runs it (`serve --start now`, real time), a plant's points fall in
    the dashboards' own time range, the last 6 hours up to now; the fixed dates of an offline
    scenario would not."""
    compose_file = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose_file["services"].items():
        if service.get("command", [None])[0] == "serve":
            assert service["command"][2:4] == ["--start", "now"], name
    for name, board in dashboards().items():
        assert board["time"] == {"from": "now-6h", "to": "now"}, name
    relay = V2WriteRelay(influxql)
    port = free_port()
    processes: list[subprocess.Popen] = []
    query = 'SELECT count("CurrentState") FROM "machine_state" WHERE "site" = \'porto\''
    try:
        processes.append(start_server(["serve", "multisite/porto", "--start", "now", "--port",
                                       str(port)], port, tmp_path / "serve.log"))
        processes.append(start(
            ["bridge", "--opcua", f"opc.tcp://127.0.0.1:{port}", "--influx", relay.url,
             "--bucket", "factory", "--org", "factory-sim", "--enterprise", "acme-metal",
             "--client-id", "bridge-porto", "--state-dir", str(tmp_path / "state"),
             "--log-level", "WARNING"], tmp_path / "bridge.log"))
        deadline = time.monotonic() + 90
        while "series" not in influxql.query(query, db="factory"):
            for process in processes:
                assert process.poll() is None, log_tails(tmp_path)
            assert time.monotonic() < deadline, f"no data from porto\n{log_tails(tmp_path)}"
            time.sleep(1)
    finally:
        stop(processes)
        relay.close()
    now_ms = int(time.time() * 1000)
    last_6h = {"start": now_ms - 6 * 3_600_000, "end": now_ms}
    january = {"start": 1767571200000, "end": 1768176000000}  # 2026-01-05 to 2026-01-12
    for name, board in dashboards().items():
        state_panels = {**board, "panels": [
            panel for panel in board["panels"]
            if all('FROM "machine_state"' in t["query"] for t in panel["targets"])]}
        if not state_panels["panels"]:
            continue
        variables = resolve_variables(influxql, board, last_6h, {"site": ["porto"]})
        for (title, ref), series in run_panel_queries(influxql, state_panels, variables,
                                                      last_6h).items():
            assert has_values(series), f"{name}: {title} ({ref}): nothing in the last 6 h"
        in_january = run_panel_queries(influxql, state_panels, variables, january)
        assert not any(has_values(series) for series in in_january.values()), name
