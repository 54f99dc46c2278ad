"""The OPC UA side over a signed and encrypted channel with a client certificate, and a clear
error when the server does not trust the certificate."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from factory_cli.main import main
from mqtt_bridge.inputs.opcua import OpcUaSettings, OpcUaSource
from mqtt_bridge.inputs.opcua.discovery import Hierarchy
from tests.bridge.machinery_server import MachineryServer, free_port

BRIDGE_URI = "urn:factory-sim:bridge"


async def make_certificate(folder: Path, name: str, uri: str, use) -> tuple[Path, Path]:
    key, cert = folder / f"{name}-key.pem", folder / f"{name}-cert.der"
    await setup_self_signed_certificate(
        key, cert, uri, socket.gethostname(), [use], {"organizationName": "factory-sim tests"}
    )
    return cert, key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("pki")

    async def make() -> dict[str, tuple[Path, Path]]:
        return {
            "server": await make_certificate(folder, "server", "urn:test:server",
                                             ExtendedKeyUsageOID.SERVER_AUTH),
            "bridge": await make_certificate(folder, "bridge", BRIDGE_URI,
                                             ExtendedKeyUsageOID.CLIENT_AUTH),
            "stranger": await make_certificate(folder, "stranger", BRIDGE_URI,
                                               ExtendedKeyUsageOID.CLIENT_AUTH),
        }

    return asyncio.run(make())


@pytest.fixture(scope="module")
def secure_server(certificates) -> Iterator[MachineryServer]:
    cert, key = certificates["server"]
    trusted = certificates["bridge"][0].read_bytes()
    x509.load_der_x509_certificate(trusted)  # a DER certificate, as the server compares
    server = MachineryServer(free_port(), security=(str(cert), str(key), trusted))
    server.start()
    yield server
    server.stop()


async def test_values_flow_over_a_signed_and_encrypted_channel(
    secure_server: MachineryServer, certificates
) -> None:
    cert, key = certificates["bridge"]
    settings = OpcUaSettings(
        url=secure_server.url, security_policy="Basic256Sha256", security_mode="SignAndEncrypt",
        certificate=str(cert), private_key=str(key),
        server_certificate=str(certificates["server"][0]),
    )
    got: list = []
    source = OpcUaSource(settings, Hierarchy(), got.extend)
    task = asyncio.create_task(source.run())
    try:
        await asyncio.wait_for(source.connected.wait(), 30)
        await asyncio.to_thread(secure_server.set_value, "Press1", "Temperature", 77.0)
        for _ in range(200):
            if any(getattr(s, "value", None) == 77.0 for s in got):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert any(s.key.endswith("/Press1/Monitoring/Temperature") and s.value == 77.0 for s in got)


def test_an_untrusted_certificate_is_a_clear_error(
    secure_server: MachineryServer, certificates, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cert, key = certificates["stranger"]
    code = main(["bridge", "--opcua", secure_server.url, "--security-policy", "Basic256Sha256",
                 "--security-mode", "SignAndEncrypt", "--opcua-cert", str(cert),
                 "--opcua-key", str(key), "--mqtt", "mqtt://127.0.0.1:1883",
                 "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert f"the OPC UA server at {secure_server.url} rejected" in err, err
    assert "Traceback" not in err


def test_a_server_certificate_other_than_the_trusted_one_is_refused(
    secure_server: MachineryServer, certificates, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cert, key = certificates["bridge"]
    impostor = certificates["stranger"][0]  # not the certificate the server presents
    code = main(["bridge", "--opcua", secure_server.url, "--security-policy", "Basic256Sha256",
                 "--security-mode", "SignAndEncrypt", "--opcua-cert", str(cert),
                 "--opcua-key", str(key), "--opcua-server-cert", str(impostor),
                 "--mqtt", "mqtt://127.0.0.1:1883", "--state-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0, err
    assert "the server does not present the trusted certificate" in err, err
    assert secure_server.url in err and "Traceback" not in err
