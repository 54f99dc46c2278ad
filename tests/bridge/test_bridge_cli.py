"""`factory-sim bridge`: configuration precedence and clear errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from factory_cli.main import main
from mqtt_bridge.config import ConfigError, load
from tests.bridge.machinery_server import MachineryServer, free_port


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["bridge", *args])
    return code, capsys.readouterr().err


def test_cli_beats_env_beats_file_beats_defaults(tmp_path: Path) -> None:
    config_file = tmp_path / "bridge.toml"
    config_file.write_text(
        "state_dir = 'from-file'\n"
        "[opcua]\nurl = 'opc.tcp://file:4840'\nusername = 'file-user'\npublishing_interval = 250\n"
        "[mqtt]\nurl = 'mqtt://file:1883'\ntopic_prefix = 'uns'\n"
        "[hierarchy]\nenterprise = 'acme'\nsite = 'file-site'\n"
    )
    env = {
        "FACTORY_SIM_BRIDGE_OPCUA_USERNAME": "env-user",
        "FACTORY_SIM_BRIDGE_OPCUA_PASSWORD": "secret",
        "FACTORY_SIM_BRIDGE_HIERARCHY_SITE": "env-site",
        "FACTORY_SIM_BRIDGE_OPCUA_SCAN_OBJECTS": "false",
        "FACTORY_SIM_BRIDGE_MQTT_BATCH": "machine",
    }
    config = load({("opcua", "url"): "opc.tcp://cli:4841", ("hierarchy", "site"): None},
                  str(config_file), env)
    assert config.opcua.url == "opc.tcp://cli:4841"  # CLI
    assert (config.opcua.username, config.opcua.password) == ("env-user", "secret")  # env
    assert config.opcua.scan_objects is False
    assert config.opcua.publishing_interval == 250.0  # file
    assert config.opcua.queue_size == 1000  # default
    assert config.hierarchy.site == "env-site" and config.hierarchy.enterprise == "acme"
    assert config.mqtt is not None and config.mqtt.topic_prefix == "uns"
    assert config.mqtt.batch == "machine"  # env
    assert config.influx is None  # no url anywhere: that sink is off
    assert config.state_dir == Path("from-file")


def test_yaml_config_files_work_too(tmp_path: Path) -> None:
    config_file = tmp_path / "bridge.yaml"
    config_file.write_text("opcua:\n  url: opc.tcp://yaml:4840\ninflux:\n  url: http://db:8428\n")
    config = load({}, str(config_file), {})
    assert config.opcua.url == "opc.tcp://yaml:4840"
    assert config.influx is not None and config.influx.url == "http://db:8428"


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("[opcua]\nurll = 'x'\n", {}, "unknown setting opcua.urll"),
        ("[opcuaa]\n", {}, "unknown section or setting 'opcuaa'"),
        ("[opcua\n", {}, "not valid TOML"),
        ("", {"FACTORY_SIM_BRIDGE_OPCUA_QUEUE_SIZE": "many"},
         "FACTORY_SIM_BRIDGE_OPCUA_QUEUE_SIZE: 'many' is not a valid int"),
        ("[opcua]\nurl = 'http://x'\n", {}, "opcua url 'http://x': expected opc.tcp://host:port"),
        ("[opcua]\nsecurity_policy = 'Basic256Sha256'\nsecurity_mode = 'Sign'\n", {},
         "needs certificate and private_key"),
        ("[mqtt]\nurl = 'tcp://x'\n", {}, "MQTT url 'tcp://x'"),
    ],
)
def test_config_mistakes_are_named(tmp_path: Path, content: str, env: dict, message: str) -> None:
    config_file = tmp_path / "bridge.toml"
    config_file.write_text(content)
    with pytest.raises(ConfigError, match=None) as info:
        load({}, str(config_file), env)
    assert message in str(info.value)


def test_bad_options_exit_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = run_cli(capsys, "--opcua", "opc.tcp://127.0.0.1:4840", "--state-dir",
                        str(tmp_path))
    assert code != 0 and "nothing to publish to" in err
    code, err = run_cli(capsys, "--config", str(tmp_path / "missing.toml"), "--mqtt",
                        "mqtt://127.0.0.1:1883")
    assert code != 0 and "missing.toml" in err and "cannot read" in err
    code, err = run_cli(capsys, "--opcua", "opc.tcp://127.0.0.1:4840", "--mqtt",
                        "mqtt://127.0.0.1:1883", "--mqtt-batch", "cell", "--state-dir",
                        str(tmp_path))
    assert code != 0 and "batch 'cell': expected tag or machine" in err
    assert "Traceback" not in err


def test_an_unusable_state_dir_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, err = run_cli(capsys, "--opcua", "opc.tcp://127.0.0.1:4840", "--mqtt",
                        "mqtt://127.0.0.1:1883", "--state-dir", str(blocker / "state"))
    assert code != 0 and f"state directory {blocker / 'state'}" in err
    assert "Traceback" not in err


def test_a_second_bridge_on_the_same_state_dir_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from mqtt_bridge.journal import Journal

    with Journal(tmp_path / "bridge.journal"):  # a running bridge holds its journal
        code, err = run_cli(capsys, "--opcua", "opc.tcp://127.0.0.1:4840", "--mqtt",
                            "mqtt://127.0.0.1:1883", "--state-dir", str(tmp_path))
    assert code != 0 and "bridge.journal" in err, err
    assert "Traceback" not in err


def test_unreachable_endpoint_subprocess(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    result = subprocess.run(
        [sys.executable, "-m", "factory_cli.main", "bridge", "--opcua",
         f"opc.tcp://127.0.0.1:{port}", "--mqtt", "mqtt://127.0.0.1:1883",
         "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert f"cannot reach the OPC UA server at opc.tcp://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_password(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    server = MachineryServer(free_port(), credentials=("operator", "right"))
    server.start()
    try:
        code, err = run_cli(capsys, "--opcua", server.url, "--opcua-user", "operator",
                            "--opcua-password", "wrong", "--mqtt", "mqtt://127.0.0.1:1883",
                            "--state-dir", str(tmp_path))
    finally:
        server.stop()
    assert code != 0
    assert "refused user 'operator': wrong username or password" in err
    assert "Traceback" not in err


def test_anonymous_login_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    server = MachineryServer(free_port(), credentials=("operator", "right"))
    server.start()
    try:
        code, err = run_cli(capsys, "--opcua", server.url, "--mqtt", "mqtt://127.0.0.1:1883",
                            "--state-dir", str(tmp_path))
    finally:
        server.stop()
    assert code != 0
    assert "refused an anonymous login" in err and "--opcua-user" in err
    assert "Traceback" not in err


def test_server_without_machinery(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    server = MachineryServer(free_port(), with_machinery=False)
    server.start()
    try:
        code, err = run_cli(capsys, "--opcua", server.url, "--mqtt", "mqtt://127.0.0.1:1883",
                            "--state-dir", str(tmp_path))
    finally:
        server.stop()
    assert code != 0
    assert "does not use the OPC UA Machinery model" in err
    assert "Traceback" not in err


def test_the_sample_configurations_are_valid_and_complete(tmp_path: Path) -> None:
    """The top-level sample and the sample in each input's and output's folder, together,
    make a valid configuration that sets every section."""
    bridge = Path(__file__).resolve().parents[2] / "mqtt_bridge"
    samples = [bridge / "bridge.example.toml", bridge / "inputs/opcua/opcua.example.toml",
               bridge / "outputs/mqtt/mqtt.example.toml",
               bridge / "outputs/timeseries/timeseries.example.toml",
               bridge / "outputs/sparkplug/sparkplug.example.toml"]
    for sample in samples:
        load({}, str(sample), {})
    combined = tmp_path / "bridge.toml"
    combined.write_text("\n".join(sample.read_text() for sample in samples))
    config = load({}, str(combined), {})
    assert config.mqtt is not None and config.influx is not None
    assert config.sparkplug is not None and config.sparkplug.max_metrics == 500
    assert config.opcua.url == "opc.tcp://127.0.0.1:4840"
    assert config.mqtt.keepalive == 30 and config.influx.batch_size == 5000
