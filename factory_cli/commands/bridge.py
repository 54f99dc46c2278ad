"""`factory-sim bridge`: publish any OPC UA Machinery server to MQTT and a time series.

Every option can also be set in a config file (`--config`, TOML or YAML) or the environment
(`FACTORY_SIM_BRIDGE_<SECTION>_<KEY>`); the command line wins, then the environment, then the
file (see mqtt_bridge/config.py and mqtt_bridge/bridge.example.toml).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mqtt_bridge.config import BridgeConfig

# (flag, (section, key), help); section "" is a top-level setting.
OPTIONS: list[tuple[str, tuple[str, str], str]] = [
    ("--opcua", ("opcua", "url"), "OPC UA server endpoint, opc.tcp://HOST:PORT"),
    ("--opcua-user", ("opcua", "username"), "OPC UA username (default: anonymous)"),
    ("--opcua-password", ("opcua", "password"),
     "OPC UA password (prefer FACTORY_SIM_BRIDGE_OPCUA_PASSWORD: the command line is visible)"),
    ("--security-policy", ("opcua", "security_policy"),
     "None, Basic256Sha256, Aes128Sha256RsaOaep or Aes256Sha256RsaPss"),
    ("--security-mode", ("opcua", "security_mode"), "None, Sign or SignAndEncrypt"),
    ("--opcua-cert", ("opcua", "certificate"), "client certificate for a secure channel"),
    ("--opcua-key", ("opcua", "private_key"), "private key of the client certificate"),
    ("--opcua-server-cert", ("opcua", "server_certificate"),
     "trust exactly this server certificate"),
    ("--publishing-interval", ("opcua", "publishing_interval"),
     "subscription publishing interval in ms (100)"),
    ("--rebrowse-interval", ("opcua", "rebrowse_interval"),
     "seconds between looks for machines added or removed (30)"),
    ("--mqtt", ("mqtt", "url"), "MQTT broker, mqtt://HOST:PORT or mqtts://HOST:PORT (TLS); "
     "the nodes of a clustered broker comma-separated, tried in turn when one fails"),
    ("--mqtt-user", ("mqtt", "username"), "MQTT username"),
    ("--mqtt-password", ("mqtt", "password"),
     "MQTT password (prefer FACTORY_SIM_BRIDGE_MQTT_PASSWORD or _PASSWORD_FILE)"),
    ("--mqtt-ca", ("mqtt", "tls_ca"), "CA file that verifies the broker (mqtts)"),
    ("--mqtt-cert", ("mqtt", "tls_cert"), "client certificate for mutual TLS"),
    ("--mqtt-key", ("mqtt", "tls_key"), "private key of the MQTT client certificate"),
    ("--topic-prefix", ("mqtt", "topic_prefix"), "put in front of every topic, e.g. uns"),
    ("--client-id", ("mqtt", "client_id"), "MQTT client id, names the bridge's status topic"),
    ("--mqtt-batch", ("mqtt", "batch"),
     "tag: one retained message per tag update on its own topic (default); machine: one "
     "message per machine and round on .../{cell}/updates, for high rates"),
    ("--umh", ("umh", "url"),
     "United Manufacturing Hub broker, mqtt://HOST:PORT (docs/integrators/umh.md)"),
    ("--umh-form", ("umh", "form"), "classic: _historian messages (default); core: _raw values"),
    ("--umh-client-id", ("umh", "client_id"), "the UMH output's MQTT client id (factory-sim-umh)"),
    ("--umh-origin-id", ("umh", "origin_id"), "UMH's originID level below the work cell (none)"),
    ("--influx", ("influx", "url"), "InfluxDB 2 compatible write endpoint, http://HOST:PORT"),
    ("--org", ("influx", "org"), "InfluxDB organisation"),
    ("--bucket", ("influx", "bucket"), "InfluxDB bucket"),
    ("--token", ("influx", "token"),
     "InfluxDB token (prefer FACTORY_SIM_BRIDGE_INFLUX_TOKEN or _TOKEN_FILE: a file holding it)"),
    ("--sparkplug", ("sparkplug", "url"),
     "publish as a Sparkplug B edge node too: MQTT broker, mqtt://HOST:PORT or mqtts://HOST:PORT"),
    ("--sparkplug-group", ("sparkplug", "group_id"), "Sparkplug group id (factory-sim)"),
    ("--sparkplug-edge-node", ("sparkplug", "edge_node_id"),
     "Sparkplug edge node id, unique in its group (factory-sim-bridge)"),
    ("--sparkplug-primary-host", ("sparkplug", "primary_host_id"),
     "births wait until this Sparkplug host application's STATE says online"),
    ("--enterprise", ("hierarchy", "enterprise"), "first topic level (factory)"),
    ("--site", ("hierarchy", "site"), "second topic level unless a machine's Location says"),
    ("--area", ("hierarchy", "area"), "third topic level unless a machine's Location says"),
    ("--line", ("hierarchy", "line"), "fourth topic level unless a machine's Location says"),
    ("--state-dir", ("", "state_dir"),
     "directory for the journal and the backfill state (.factory-sim-bridge)"),
    ("--log-level", ("", "log_level"), "DEBUG, INFO, WARNING or ERROR (INFO)"),
]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bridge",
        help="publish an OPC UA Machinery server to MQTT and a time series",
        description="Discover the machines of any OPC UA server (OPC 40001-1 Machinery) and "
        "publish their values and alarms to MQTT (unified namespace) and/or an InfluxDB-"
        "compatible time series; reconnects, buffers on disk and backfills from history.",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML or YAML config file")
    for flag, (section, key), text in OPTIONS:
        parser.add_argument(flag, dest=_dest(section, key), metavar=key.split("_")[-1].upper(),
                            help=text)
    parser.add_argument("--no-backfill", dest="opcua__backfill", action="store_const",
                        const=False, help="do not read gaps from the server's history")
    parser.set_defaults(handler=run_bridge)


def _dest(section: str, key: str) -> str:
    return f"{section or 'top'}__{key}"


async def run_tuned(config: BridgeConfig, stop: asyncio.Event) -> None:
    """Run the bridge until `stop` with the measured speed-ups (docs/performance.md): the asyncua
    adapter's fast decoding and second PublishRequest, rare full garbage collections, and what
    exists once the source is connected frozen out of the collector's sight; all undone when
    the bridge stops."""
    from factory_cli.tuning import GcTuning, speedups
    from mqtt_bridge.app import Bridge
    from mqtt_bridge.inputs.opcua import asyncua_adapter

    with speedups(asyncua_adapter), GcTuning() as gc_tuning:
        await Bridge(config, on_connected=gc_tuning.freeze).run(stop)


def run_bridge(args: argparse.Namespace) -> int:
    import logging
    import signal

    from factory_cli.errors import CliError
    from mqtt_bridge.app import StateDirError
    from mqtt_bridge.config import ConfigError, load
    from mqtt_bridge.inputs.opcua import SourceError
    from mqtt_bridge.journal import JournalError

    cli = {(section, key): getattr(args, _dest(section, key)) for _, (section, key), _ in OPTIONS}
    cli[("opcua", "backfill")] = getattr(args, "opcua__backfill", None)
    try:
        config = load(cli, args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if (config.mqtt is None and config.influx is None and config.sparkplug is None
            and config.umh is None):
        raise CliError(
            "nothing to publish to: give --mqtt mqtt://HOST:PORT, --influx http://HOST:PORT,"
            " --sparkplug mqtt://HOST:PORT and/or --umh mqtt://HOST:PORT (or set them in the"
            " config file or FACTORY_SIM_BRIDGE_MQTT_URL/_INFLUX_URL/_SPARKPLUG_URL/_UMH_URL)"
        )
    level = getattr(logging, config.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level > logging.DEBUG:
        logging.getLogger("asyncua").setLevel(logging.CRITICAL)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def request_stop(_signum: int, _frame: object) -> None:
            loop.call_soon_threadsafe(stop.set)

        # Plain handlers, not loop.add_signal_handler: that one depends on asyncio's wake-up
        # pipe, which threads calling call_soon_threadsafe at high rates can fill, and a
        # signal whose byte does not fit is lost (seen under load: SIGTERM ignored).
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, request_stop) for sig in signals}
        try:
            await run_tuned(config, stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    from factory_cli.tuning import skip_final_collection

    skip_final_collection()  # a prompt exit after SIGTERM (docs/performance.md)
    try:
        asyncio.run(main())
    except SourceError as exc:
        raise CliError(str(exc), exit_code=1) from None
    except (JournalError, StateDirError) as exc:
        raise CliError(str(exc), exit_code=1) from None
    return 0
