"""One client session to the server: endpoint, user, security, and the server certificate pin.

`connect(settings)` returns a connected asyncua `Client`. With `opcua.server_certificate` set,
the server must present exactly that certificate (read with GetEndpoints, which needs no secure
channel) before anything secret is sent to it: otherwise `UntrustedServerError`.
"""

from __future__ import annotations

from asyncua import Client
from asyncua.crypto import uacrypto
from cryptography.hazmat.primitives import serialization

from mqtt_bridge.inputs.opcua.settings import OpcUaSettings

CLIENT_NAME = "factory-sim bridge"


class UntrustedServerError(Exception):
    """The server's certificate is not the one configured as trusted."""


async def connect(settings: OpcUaSettings) -> Client:
    s = settings
    # The watchdog reads the server state every interval and gives up after as long: a
    # busy server must not look dead, so it gets the request timeout.
    client = Client(s.url, timeout=s.timeout, watchdog_intervall=s.timeout)
    client.name = client.description = CLIENT_NAME
    client.application_uri = s.application_uri
    if s.username is not None:
        client.set_user(s.username)
        client.set_password(s.password or "")
    if s.security_policy != "None":
        parts = [s.security_policy, s.security_mode, s.certificate, s.private_key]
        if s.server_certificate:
            await check_server_certificate(client, s.server_certificate)
            parts.append(s.server_certificate)
        await client.set_security_string(",".join(parts))
    await client.connect()
    return client


async def check_server_certificate(client: Client, trusted_file: str) -> None:
    """Refuse a server that does not present the certificate in `trusted_file`."""
    trusted = await uacrypto.load_certificate(trusted_file)
    trusted_der = trusted.public_bytes(serialization.Encoding.DER)
    endpoints = await client.connect_and_get_server_endpoints()
    presented = {bytes(e.ServerCertificate or b"") for e in endpoints}
    # A certificate chain starts with the server's own certificate.
    if not any(der.startswith(trusted_der) for der in presented):
        raise UntrustedServerError(
            "the server does not present the trusted certificate "
            f"{trusted_file} (opcua.server_certificate): refusing it"
        )
