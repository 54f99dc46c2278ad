"""Writes the reference pages that come from the code: docs/reference/{cli,scenario-schema,
opcua-address-space,uns,kpi-report,kpis}.md. Run it after changing a command's options, the scenario
model, the address space, the payload schema or the KPI report; tests/docs/test_site.py fails
while a page is stale.

    .venv/bin/python docs/make_reference.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
HEADER = "<!-- written by docs/make_reference.py from the code: edit the code, then run it -->\n\n"
WIDTH = "100"  # argparse's help width, whatever the terminal


def cli_page() -> str:
    os.environ["COLUMNS"] = WIDTH
    from factory_cli.main import build_parser

    parser = build_parser()
    parser.prog = "factory-sim"
    out = ["# Command line\n",
           "Every command and option, as `--help` prints it.\n",
           "```text", parser.format_help().rstrip(), "```\n"]
    for name, sub in _subcommands(parser):
        out += [f"## `factory-sim {name}`\n", "```text", sub.format_help().rstrip(), "```\n"]
        for action_name, action in _subcommands(sub):
            out += [f"### `factory-sim {name} {action_name}`\n", "```text",
                    action.format_help().rstrip(), "```\n"]
    return "\n".join(out)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            found += list(action.choices.items())
    return found


def scenario_page() -> str:
    from factory_sim.scenario import Scenario

    schema = Scenario.model_json_schema()
    definitions = schema.get("$defs", {})
    out = ["# Scenario files\n",
           "The keys a scenario file may hold, from the model that validates it "
           "(`factory_sim.scenario.Scenario`). Durations are written `45s`, `90m`, `8h`, `5d`, "
           "`2w`, `1y`; times of day `\"06:00\"`; `start` is a date and time, `now` or "
           "`now/shift` ([scenarios](../students/scenarios.md)). A key left out takes its "
           "default; `base:` names a scenario (a file next to this one, or a shipped name) "
           "whose keys this file overrides. Defaults of durations and times of day are shown in "
           "seconds.\n"]
    out += _schema_table("Scenario (the top level)", schema, definitions)
    for name in sorted(definitions):
        if definitions[name].get("type") == "object":
            out += _schema_table(name, definitions[name], definitions)
        elif "enum" in definitions[name]:
            values = ", ".join(f"`{v}`" for v in definitions[name]["enum"])
            out += [f"## {name}\n", f"One of {values}.\n"]
    return "\n".join(out)


def _schema_table(title: str, model: dict, definitions: dict) -> list[str]:
    required = set(model.get("required", []))
    rows = [f"## {title}\n", "| key | type | default |", "|---|---|---|"]
    for key, spec in model.get("properties", {}).items():
        default = "required" if key in required else f"`{json.dumps(spec.get('default'))}`"
        rows.append(f"| `{key}` | {_type(spec)} | {default} |")
    return [*rows, ""]


def _type(spec: dict) -> str:
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in spec:
        return " or ".join(_type(s) for s in spec["anyOf"])
    if spec.get("type") == "array":
        return f"list of {_type(spec.get('items', {}))}"
    if spec.get("type") == "object" and "additionalProperties" in spec:
        return f"mapping to {_type(spec['additionalProperties'])}"
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{spec['const']}`"
    return spec.get("format", spec.get("type", "any"))


def uns_page() -> str:
    from mqtt_bridge.inputs.opcua.discovery import GROUP_ALIASES, MACHINE_GROUP

    schema_path = ROOT / "mqtt_bridge" / "outputs" / "mqtt" / "payload.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    out = ["# Unified namespace: topics and payloads\n",
           "Topics follow ISA-95: `{enterprise}/{site}/{area}/{line}/{cell}/{group}/{tag}` "
           "(an optional `topic_prefix` in front); events and alarms on `.../{cell}/events` "
           "and `.../{cell}/alarms`, job order changes (OPC 40001-3) on `.../{cell}/jobs`; "
           "the bridge's birth and last will on "
           "`{prefix}_bridge/{client_id}/status`. How the bridge names them and what it "
           "guarantees: [the unified namespace](../integrators/unified-namespace.md).\n",
           "## Groups\n",
           "A group is the BrowseNames between the machine and the variable, joined with `.`; "
           "the Machinery building blocks get short names:\n",
           "| OPC UA object | group |", "|---|---|",
           *(f"| `{name}` | `{alias}` |" for name, alias in GROUP_ALIASES.items()),
           f"| a variable directly on the machine | `{MACHINE_GROUP}` |\n",
           "## Payloads\n",
           f"{schema['description']} The JSON schema: "
           "`mqtt_bridge/outputs/mqtt/payload.schema.json` (`$id` "
           f"`{schema['$id']}`).\n",
           "| kind | fields | what it is |", "|---|---|---|"]
    for name, spec in schema["$defs"].items():
        fields = ", ".join(f"`{f}`" for f in spec.get("properties", {}))
        description = " ".join(spec.get("description", "").split()).replace("|", "\\|")
        out.append(f"| `{name}` | {fields} | {description} |")
    out += ["", "## The schema\n", "```json", json.dumps(schema, indent=2), "```\n"]
    return "\n".join(out)


def kpi_report_page() -> str:
    import inspect
    import re

    from factory_sim import kpi

    field = re.compile(r"^    (\w+): ([^#=]+?)\s*(?:=[^#]*)?(?:#\s*(.*))?$")
    out = ["# The KPI report\n",
           "The fields of the KPI report that `run --format json` prints and `kpis.json` holds "
           "(`factory_sim.kpi`); `compare` gives each numeric field as mean and 95 % interval "
           "over the replications. Times are in seconds, shares from 0 to 1. What each KPI "
           "means: [KPI definitions](kpis.md).\n"]
    for cls in (kpi.KpiReport, kpi.PlantKpis, kpi.CellKpis, kpi.TimeElements, kpi.RepairTimes,
                kpi.InformationQuality, kpi.Distribution):
        doc = " ".join((inspect.getdoc(cls) or "").split())
        generated = doc.startswith(cls.__name__ + "(")  # dataclass's own signature
        out += [f"## {cls.__name__}\n", *([] if generated or not doc else [doc + "\n"]),
                "| field | type | meaning |", "|---|---|---|"]
        for line in inspect.getsource(cls).splitlines():
            if match := field.match(line):
                name, kind, note = match.groups()
                kind = kind.strip().replace("|", "or")
                out.append(f"| `{name}` | `{kind}` | {note or ''} |")
        out.append("")
    return "\n".join(out)


def kpis_page() -> str:
    from factory_sim.kpi_definitions import KPI_DEFINITIONS

    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    out = ["# KPI definitions\n",
           "**The KPIs** (`factory_sim/kpi.py`), per ISO 22400-2, from state-time accounting: "
           "every second of every cell is booked to its activity (the state times add up to "
           "the simulated time) and each activity to a time element. One record per KPI in "
           "`factory_sim/kpi_definitions.py`; *ISO 22400-2* names the KPI or time element it "
           "follows (blank: the project's own).\n",
           "| KPI | ISO 22400-2 | formula | unit | what it counts | report fields |",
           "|---|---|---|---|---|---|"]
    for kpi in KPI_DEFINITIONS:
        fields = ", ".join(f"`{name}`" for name in kpi.fields)
        out.append(f"| {cell(kpi.name)} | {cell(kpi.iso)} | {cell(kpi.formula)} | "
                   f"{cell(kpi.unit)} | {cell(kpi.counts)} | {fields} |")
    out += ["", "Every field of the report these come in (`kpis.json`, `run --format json`): "
            "[the KPI report](kpi-report.md).\n"]
    return "\n".join(out)


def address_space_page() -> str:
    tree = asyncio.run(_browse_reference_plant())
    out = ["# OPC UA address space\n",
           "What `factory-sim serve reference-opcua` serves, browsed from a running server: "
           "every machine under `Objects/Machines` (OPC 40001-1) with its components, and the "
           "plant's own objects (the simulation's controls, the office's job orders and shift "
           "reports, the plant's KPIs). Each node with its namespace (the last part of its "
           "URI), its NodeClass and, for variables, its data type.\n",
           "```text", *tree, "```\n"]
    return "\n".join(out)


async def _browse_reference_plant() -> list[str]:
    from asyncua import Client, ua

    from factory_sim.plant import Plant
    from factory_sim.scenario import load_scenario
    from factory_sim.shipped import shipped_scenario
    from opcua_server.server import ServerSettings, SimulationServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    plant = Plant(load_scenario(shipped_scenario("reference-opcua")), seed=1)
    server = SimulationServer(plant, ServerSettings(port=port, paused=True))
    await server.start()
    lines: list[str] = []
    try:
        async with Client(server.endpoint, timeout=10) as client:
            namespaces = await client.get_namespace_array()

            async def walk(node, depth: int, skip: Callable[[str], bool]) -> None:
                for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences):
                    name = await child.read_browse_name()
                    if skip(name.Name):
                        continue
                    node_class = await child.read_node_class()
                    detail = node_class.name
                    if node_class == ua.NodeClass.Variable:
                        data_type = await client.get_node(await child.read_data_type())\
                            .read_browse_name()
                        detail += f", {data_type.Name}"
                    uri = namespaces[name.NamespaceIndex].rstrip("/").rsplit("/", 1)[-1]
                    lines.append(f"{'  ' * depth}{name.Name}  [{uri}] ({detail})")
                    if node_class == ua.NodeClass.Object and depth < 7:
                        await walk(child, depth + 1, lambda _: False)

            lines.append("Objects")
            await walk(client.nodes.objects, 1, lambda name: name in ("Server", "Aliases"))
    finally:
        await server.stop()
    return lines


PAGES: dict[str, Callable[[], str]] = {
    "cli.md": cli_page,
    "scenario-schema.md": scenario_page,
    "uns.md": uns_page,
    "kpi-report.md": kpi_report_page,
    "kpis.md": kpis_page,
    "opcua-address-space.md": address_space_page,
}


def render(name: str) -> str:
    return HEADER + PAGES[name]().rstrip() + "\n"


def main() -> None:
    REFERENCE.mkdir(parents=True, exist_ok=True)
    for name in (sys.argv[1:] or PAGES):
        (REFERENCE / name).write_text(render(name), encoding="utf-8")
        print(f"wrote docs/reference/{name}")


if __name__ == "__main__":
    main()
