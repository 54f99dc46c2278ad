"""Writes the provisioned Grafana dashboards (deploy/grafana/dashboards/*.json).

    .venv/bin/python deploy/grafana/make_dashboards.py

The JSON files are what Grafana loads; this script is how they are made, so that the five
dashboards share one set of variables, one datasource and one layout rule.
tests/stack/test_dashboards.py checks that the files are what this script writes, and runs
every query against a real InfluxQL engine holding what the bridge wrote.

The queries are InfluxQL (InfluxDB 1.8+, 2.x through its v1 API, 3.x) over the bridge's
measurements (docs/integrators/unified-namespace.md): one measurement per group of a machine
(`machine_state`, `mode`, `monitoring`, `kpi`, `counters`, `currentorder`, `tooling`,
`alarms`, `events`, ...), tags `enterprise`, `site`, `area`, `line`, `cell`, `cell_type`.
"""

from __future__ import annotations

import json
from pathlib import Path

DATASOURCE = {"type": "influxdb", "uid": "factory-influxdb"}  # provisioning/datasources
DASHBOARDS = Path(__file__).resolve().parent / "dashboards"
# Source timestamps are the plant's clock; the compose stack starts it on the wall clock
# (`serve --start now`), so the dashboards open on the last hours up to now.
TIME_RANGE = {"from": "now-6h", "to": "now"}
WHERE = ('$timeFilter AND "site" =~ /^$site$/ AND "line" =~ /^$line$/ '
         'AND "cell" =~ /^$cell$/')
WHERE_LINE = '$timeFilter AND "site" =~ /^$site$/ AND "line" =~ /^$line$/'
# The plant's own KPIs (Objects/Plant/Kpi, bridged with `topic = "<site>/.../plant"`): a
# site's figure, whatever its lines
WHERE_PLANT = '$timeFilter AND "site" =~ /^$site$/ AND "cell" = \'plant\''
BY_CELL = '"site", "line", "cell"'
STATE_COLOURS = {  # MachineryItemState (OPC 40001-1) as an andon light
    "Executing": "green", "NotExecuting": "yellow", "OutOfService": "red",
    "NotAvailable": "#808080",
}
ACTIVITY_COLOURS = {
    "producing": "green", "short_stop": "light-green", "setup": "blue",
    "starved": "yellow", "blocked": "orange", "waiting_operator": "light-yellow",
    "stopped": "purple", "failed": "red", "repair": "dark-red", "maintenance": "light-red",
    "break": "#a0a0a0", "off_shift": "#606060",
}


def variable(name: str, label: str, measurement: str, where: str, multi: bool = True) -> dict:
    query = f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{name}"'
    if where:
        query += f" WHERE {where}"
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": query, "definition": query, "refresh": 2, "sort": 1,
        "multi": multi, "includeAll": multi,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if multi else {},
        "hide": 0, "regex": "", "options": [],
    }


def variables(cell_multi: bool = True) -> list[dict]:
    return [
        variable("site", "Site", "machine_state", ""),
        variable("line", "Line", "machine_state", '"site" =~ /^$site$/'),
        variable("cell", "Cell", "machine_state",
                 '"site" =~ /^$site$/ AND "line" =~ /^$line$/', multi=cell_multi),
    ]


def target(query: str, ref: str = "A", fmt: str = "time_series", alias: str = "") -> dict:
    return {"refId": ref, "datasource": DATASOURCE, "rawQuery": True, "query": query,
            "resultFormat": fmt, "alias": alias}


def value_mappings(colours: dict[str, str]) -> list[dict]:
    return [{"type": "value", "options": {
        value: {"color": colour, "index": index, "text": value}
        for index, (value, colour) in enumerate(colours.items())}}]


def panel(kind: str, title: str, targets: list[dict], width: int, height: int,
          unit: str = "", description: str = "", **options) -> dict:
    defaults: dict = {"unit": unit} if unit else {}
    if "mappings" in options:
        defaults["mappings"] = options.pop("mappings")
        defaults["color"] = {"mode": "thresholds"}
    if "decimals" in options:
        defaults["decimals"] = options.pop("decimals")
    if "custom" in options:
        defaults["custom"] = options.pop("custom")
    out = {
        "type": kind, "title": title, "datasource": DATASOURCE, "targets": targets,
        "gridPos": {"w": width, "h": height},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
    }
    if description:
        out["description"] = description
    return out


def layout(panels: list[dict]) -> list[dict]:
    """Place panels left to right in rows of 24 columns, a new row when one does not fit."""
    x = y = row_height = 0
    for number, item in enumerate(panels, start=1):
        grid = item["gridPos"]
        if x + grid["w"] > 24:
            x, y, row_height = 0, y + row_height, 0
        grid["x"], grid["y"] = x, y
        x += grid["w"]
        row_height = max(row_height, grid["h"])
        item["id"] = number
    return panels


def dashboard(uid: str, title: str, description: str, panels: list[dict],
              cell_multi: bool = True) -> dict:
    return {
        "uid": uid, "title": title, "description": description,
        "tags": ["factory-sim"], "timezone": "utc", "editable": True,
        "schemaVersion": 39, "version": 1, "refresh": "10s", "time": dict(TIME_RANGE),
        "templating": {"list": variables(cell_multi)},
        "links": [{"type": "dashboards", "tags": ["factory-sim"], "asDropdown": True,
                   "title": "factory-sim", "includeVars": True, "keepTime": True}],
        "panels": layout(panels),
    }


def plant_overview() -> dict:
    kpis = ", ".join(f'last("{k}") AS "{k}"'
                     for k in ("OEE", "Availability", "Performance", "Quality"))
    return dashboard("factory-plant-overview", "Plant overview",
                     "OEE with availability, performance and quality (ISO 22400) per cell "
                     "and plant, throughput and work in progress.", [
        panel("stat", "Plant OEE, A, P, Q", [target(
            f'SELECT {kpis} FROM "kpi" WHERE {WHERE_PLANT} GROUP BY "site"',
            alias="$tag_site $col")], 10, 5, unit="percentunit", decimals=1,
            description="The plant's own KPIs (weighted by planned time), as its OPC UA "
            "server computes them under Objects/Plant/Kpi, bridged by the [[nodes]] sample "
            "(mqtt_bridge/inputs/opcua/nodes.example.toml): measurement kpi, tag "
            "cell=plant.",
            colorMode="value", graphMode="none", textMode="value_and_name"),
        panel("stat", "Good parts packed", [target(
            f'SELECT sum("good") FROM (SELECT last("GoodParts") AS "good" FROM "monitoring" '
            f"WHERE {WHERE} AND \"cell_type\" = 'PackingMachineType' GROUP BY {BY_CELL}) "
            "WHERE $timeFilter")], 4, 5, unit="none", colorMode="value", graphMode="none"),
        panel("table", "OEE, A, P, Q per cell", [target(
            f'SELECT {kpis} FROM "kpi" WHERE {WHERE} GROUP BY {BY_CELL}', fmt="table")],
            10, 5, unit="percentunit", decimals=1),
        panel("timeseries", "OEE per cell", [target(
            f'SELECT last("OEE") FROM "kpi" WHERE {WHERE} '
            f"GROUP BY time($__interval), {BY_CELL} fill(previous)",
            alias="$tag_site $tag_line $tag_cell")], 12, 8, unit="percentunit"),
        panel("timeseries", "Throughput: good parts per interval", [target(
            f'SELECT non_negative_difference(last("GoodParts")) FROM "monitoring" '
            f"WHERE {WHERE} GROUP BY time($__interval), {BY_CELL} fill(none)",
            alias="$tag_site $tag_line $tag_cell")], 12, 8, unit="none",
            description="Good parts each cell finished per time bucket ($__interval)."),
        panel("timeseries", "Work in progress at the cells (runs to go)", [target(
            f'SELECT last("RunsPlanned") - last("RunsCompleted") FROM "currentorder" '
            f"WHERE {WHERE} GROUP BY time($__interval), {BY_CELL} fill(previous)",
            alias="$tag_site $tag_line $tag_cell")], 24, 7, unit="none",
            description="Runs planned minus runs completed of the order at each cell."),
    ])


def andon_board() -> dict:
    return dashboard("factory-andon", "Andon board",
                     "Each cell's Machinery item state as a light, what it is doing, and "
                     "its current order.", [
        panel("stat", "Cell state (MachineryItemState)", [target(
            f'SELECT last("CurrentState") FROM "machine_state" WHERE {WHERE} '
            f"GROUP BY {BY_CELL}", alias="$tag_site $tag_line $tag_cell")], 24, 5,
            mappings=value_mappings(STATE_COLOURS), colorMode="background",
            graphMode="none", textMode="value_and_name",
            reduceOptions={"calcs": ["lastNotNull"], "fields": "/.*/", "values": False}),
        panel("stat", "Activity", [target(
            f'SELECT last("Activity") FROM "monitoring" WHERE {WHERE} GROUP BY {BY_CELL}',
            alias="$tag_site $tag_line $tag_cell")], 24, 5,
            mappings=value_mappings(ACTIVITY_COLOURS), colorMode="background",
            graphMode="none", textMode="value_and_name",
            reduceOptions={"calcs": ["lastNotNull"], "fields": "/.*/", "values": False}),
        panel("table", "Current order", [target(
            'SELECT last("OrderId") AS "order", last("Variant") AS "variant", '
            'last("RunsCompleted") AS "done", last("RunsPlanned") AS "planned" '
            f'FROM "currentorder" WHERE {WHERE} GROUP BY {BY_CELL}', fmt="table")], 12, 8),
        panel("state-timeline", "Item state over time", [target(
            f'SELECT last("CurrentState") FROM "machine_state" WHERE {WHERE} '
            f"GROUP BY time($__interval), {BY_CELL} fill(previous)",
            alias="$tag_site $tag_line $tag_cell")], 12, 8,
            mappings=value_mappings(STATE_COLOURS), mergeValues=True, showValue="never"),
    ])


def energy() -> dict:
    return dashboard("factory-energy", "Energy",
                     "Power per state integrated by the simulator: kW, kWh and kWh per good "
                     "part.", [
        panel("timeseries", "Power per cell [kW]", [target(
            f'SELECT mean("Power") FROM "monitoring" WHERE {WHERE} '
            f"GROUP BY time($__interval), {BY_CELL} fill(previous)",
            alias="$tag_site $tag_line $tag_cell")], 12, 8, unit="kwatt"),
        panel("timeseries", "Power, stacked: the total of the selected cells [kW]", [target(
            f'SELECT mean("Power") FROM "monitoring" WHERE {WHERE} '
            f"GROUP BY time($__interval), {BY_CELL} fill(previous)",
            alias="$tag_site $tag_line $tag_cell")], 12, 8, unit="kwatt",
            custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40}),
        panel("bargauge", "Energy in the time range [kWh]", [target(
            f'SELECT spread("Energy") FROM "monitoring" WHERE {WHERE} GROUP BY {BY_CELL}',
            alias="$tag_site $tag_line $tag_cell")], 12, 8, unit="kwatth",
            orientation="horizontal", displayMode="gradient"),
        panel("bargauge", "kWh per good part in the time range", [target(
            'SELECT spread("Energy") / spread("GoodParts") FROM "monitoring" '
            f"WHERE {WHERE} GROUP BY {BY_CELL}", alias="$tag_site $tag_line $tag_cell")],
            12, 8, unit="kwatth", decimals=2, orientation="horizontal",
            displayMode="gradient",
            description="Energy used divided by good parts finished at the cell, both over "
            "the time range (0 where no good part was finished)."),
        panel("timeseries", "Energy meter per cell [kWh]", [target(
            f'SELECT last("Energy") FROM "monitoring" WHERE {WHERE} '
            f"GROUP BY time($__interval), {BY_CELL} fill(previous)",
            alias="$tag_site $tag_line $tag_cell")], 24, 7, unit="kwatth"),
    ])


def alarms_and_events() -> dict:
    columns = '"site", "line", "cell", "event_type", "severity", "message"'
    return dashboard("factory-alarms", "Alarms and events",
                     "The bridge's alarms and events measurements: OPC UA alarm conditions "
                     "and Machinery state transitions of every machine.", [
        panel("stat", "Alarm updates in the time range", [target(
            f'SELECT count("severity") FROM "alarms" WHERE {WHERE}')], 6, 6,
            colorMode="value", graphMode="none"),
        panel("timeseries", "Alarm updates per interval", [target(
            f'SELECT count("severity") FROM "alarms" WHERE {WHERE} '
            f"GROUP BY time($__interval), {BY_CELL} fill(0)",
            alias="$tag_site $tag_line $tag_cell")], 18, 6, unit="none",
            drawStyle="bars"),
        panel("table", "Alarms", [target(
            f'SELECT {columns} FROM "alarms" WHERE {WHERE} ORDER BY time DESC LIMIT 500',
            fmt="table")], 24, 9,
            sortBy=[{"displayName": "Time", "desc": True}]),
        panel("table", "Events", [target(
            f'SELECT {columns} FROM "events" WHERE {WHERE} ORDER BY time DESC LIMIT 500',
            fmt="table")], 24, 9,
            sortBy=[{"displayName": "Time", "desc": True}]),
    ])


def machine_detail() -> dict:
    return dashboard("factory-machine-detail", "Machine detail",
                     "One machine: its state timeline, counters, KPIs, and the line's "
                     "press brake tool life.", [
        panel("state-timeline", "Machinery item state, operation mode, activity", [
            target(f'SELECT "CurrentState" AS "item state" FROM "machine_state" '
                   f"WHERE {WHERE}", "A"),
            target(f'SELECT "CurrentState" AS "operation mode" FROM "mode" WHERE {WHERE}', "B"),
            target(f'SELECT "Activity" AS "activity" FROM "monitoring" WHERE {WHERE}', "C"),
        ], 24, 7, mappings=value_mappings({**STATE_COLOURS, **ACTIVITY_COLOURS}),
            mergeValues=True, showValue="auto"),
        panel("timeseries", "Parts", [target(
            'SELECT last("GoodParts") AS "good", last("ScrapParts") AS "scrap", '
            f'last("ReworkParts") AS "rework" FROM "monitoring" WHERE {WHERE} '
            "GROUP BY time($__interval) fill(previous)")], 12, 8, unit="none"),
        panel("timeseries", "Operation cycles (OperationCounters)", [target(
            'SELECT last("OperationCycleCounter") AS "cycles" FROM "counters" '
            f"WHERE {WHERE} GROUP BY time($__interval) fill(previous)")], 12, 8, unit="none"),
        panel("timeseries", "OEE, availability, performance, quality", [target(
            'SELECT last("OEE") AS "OEE", last("Availability") AS "availability", '
            'last("Performance") AS "performance", last("Quality") AS "quality" '
            f'FROM "kpi" WHERE {WHERE} GROUP BY time($__interval) fill(previous)')],
            12, 8, unit="percentunit"),
        panel("timeseries", "Press brake tool life remaining [strokes] (this line)", [target(
            'SELECT last("ToolLifeRemaining") FROM "tooling" '
            f"WHERE {WHERE_LINE} GROUP BY time($__interval), {BY_CELL} fill(previous)",
            alias="$tag_cell")], 12, 8, unit="none",
            description="Press brakes only; the tool changes automatically when a variant "
            "needs another tool."),
    ], cell_multi=False)


BUILDERS = {
    "plant-overview": plant_overview, "andon-board": andon_board, "energy": energy,
    "alarms-and-events": alarms_and_events, "machine-detail": machine_detail,
}


def render(build) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    DASHBOARDS.mkdir(exist_ok=True)
    for name, build in BUILDERS.items():
        (DASHBOARDS / f"{name}.json").write_text(render(build))


if __name__ == "__main__":
    main()
