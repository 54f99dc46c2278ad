"""`factory-sim`: run, compare and serve the simulated shop floor, and bridge it to MQTT."""

from __future__ import annotations

import argparse
import importlib
import sys

from factory_cli.errors import CliError

# Subcommand modules under factory_cli.commands, in the order --help lists them.
COMMANDS = ("scenarios", "run", "compare", "serve", "users", "bridge", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory-sim",
        description="A simulated smart-factory shop floor: stand-alone, vendor-specific, "
        "OPC UA and unified connectivity, compared by their KPIs.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"factory_cli.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"factory_cli.commands.{name}":
                raise
            continue  # a subcommand not built yet
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except CliError as exc:
        print(f"factory-sim {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"factory-sim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
