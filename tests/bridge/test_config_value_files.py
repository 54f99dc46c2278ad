"""Settings from files named by `FACTORY_SIM_BRIDGE_<SECTION>_<KEY>_FILE` (secrets mounted as
files by Docker or Kubernetes): read, one trailing newline dropped, bounded, and every problem
one line naming the file and the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_bridge.config import SECRET_FILE_MAX_BYTES, ConfigError, load

MQTT = {("mqtt", "url"): "mqtt://127.0.0.1:1883", ("mqtt", "username"): "lyon",
        ("influx", "url"): "http://127.0.0.1:8086"}


def test_a_secret_comes_from_the_file_the_variable_names(tmp_path: Path) -> None:
    token, password = tmp_path / "token", tmp_path / "password"
    token.write_text("write-only-token\n")
    password.write_text("pa ss:word\r\n")
    config = load(MQTT, None, {"FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE": str(token),
                               "FACTORY_SIM_BRIDGE_MQTT_PASSWORD_FILE": str(password)})
    assert config.influx.token == "write-only-token"
    assert config.mqtt.password == "pa ss:word"


def test_the_variable_itself_and_the_command_line_win_over_the_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("from-file")
    env = {"FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE": str(token),
           "FACTORY_SIM_BRIDGE_INFLUX_TOKEN": "from-env"}
    assert load(MQTT, None, env).influx.token == "from-env"
    cli = {**MQTT, ("influx", "token"): "from-cli"}
    assert load(cli, None, {"FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE": str(token)}).influx.token == (
        "from-cli")


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot read it: No such file or directory"),
    (b"", "the file is empty"),
    (b"\n", "the file is empty"),
    (b"\xff\xfe", "not UTF-8 text"),
    (b"x" * (SECRET_FILE_MAX_BYTES + 1), f"larger than {SECRET_FILE_MAX_BYTES} bytes"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, content: bytes | None,
                                          problem: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load(MQTT, None, {"FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE": str(path)})
    assert str(caught.value) == (
        f"file {path} (environment variable FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE): {problem}")
