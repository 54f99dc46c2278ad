"""`factory-sim`: run, compare and serve the simulated shop floor, and bridge it to MQTT."""

from __future__ import annotations

import argparse
import importlib
import sys

from factory_cli.errors import CliError

# Subcommand modules under factory_cli.commands, in the order --help lists them.
COMMANDS = ("scenarios", "run", "compare", "sweep", "lab", "serve", "users", "bridge", "demo",
            "mes")


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


# Options whose value may start with "-" (a mistaken "--duration -5d"), which argparse would
# otherwise take for an option of its own and refuse with a usage screen.
_SIGNED_VALUES = ("--duration", "--warmup")


def _join_signed_values(argv: list[str]) -> list[str]:
    """["--duration", "-5d"] -> ["--duration=-5d"], so that the value's own check explains."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in _SIGNED_VALUES and arg[:2].rstrip("0123456789.") == "-":
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_join_signed_values(sys.argv[1:] if argv is None else argv))
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
