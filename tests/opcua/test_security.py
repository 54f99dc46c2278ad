"""Security of the OPC UA server: endpoints, certificates, user logins and roles.

One real server per module on a free loopback port; real asyncua clients over TCP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import Client, Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.security_policies import (
    SecurityPolicyAes128Sha256RsaOaep,
    SecurityPolicyBasic256Sha256,
)
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from opcua_server import security
from opcua_server.alarms import AlarmManager
from opcua_server.users import Role, add_user
from tests.services import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLIENT_URI = "urn:factory-sim:test-client"
SERVER_URI = "urn:factory-sim:test-server"
PASSWORDS = {"vera": "viewer-password-1", "otto": "operator-password-1",
             "erin": "engineer-password-1"}


def _client_cert(cert_folder: Path, key_folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = cert_folder / f"{name}-cert.der", key_folder / f"{name}-key.pem"
    security.write_self_signed_certificate(
        cert, key, CLIENT_URI, name, [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    return cert, key


async def _start_server(state: Path, **settings) -> tuple[Server, str]:
    server = Server()
    await server.init()
    server.disable_clock()
    url = f"opc.tcp://127.0.0.1:{free_port()}/"
    server.set_endpoint(url)
    server.set_server_name("factory-sim security test")
    await server.set_application_uri(SERVER_URI)
    idx = await server.register_namespace("urn:factory-sim:test")
    machine = await server.nodes.objects.add_object(idx, "Machine")
    setpoint = await machine.add_variable(idx, "Setpoint", 1.0)
    await setpoint.set_writable()

    async def reset(parent):
        return [ua.Variant(True, ua.VariantType.Boolean)]

    await machine.add_method(idx, "Reset", reset, [], [ua.VariantType.Boolean])
    await AlarmManager(server).init()  # binds ConditionRefresh
    await security.apply(server, security.SecuritySettings(state_dir=state, **settings))
    await server.start()
    return server, url


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("security")
    trusted, elsewhere = base / "trusted", base / "elsewhere"
    trusted.mkdir()
    elsewhere.mkdir()
    users_file = base / "users.yaml"
    for name, role in (("vera", Role.VIEWER), ("otto", Role.OPERATOR), ("erin", Role.ENGINEER)):
        add_user(users_file, name, role, PASSWORDS[name])
    return {
        "base": base,
        "trusted_dir": trusted,
        "users_file": users_file,
        "trusted": _client_cert(trusted, elsewhere, "trusted-client"),
        "untrusted": _client_cert(elsewhere, elsewhere, "untrusted-client"),
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secured(pki):
    server, url = await _start_server(
        pki["base"] / "state",
        trusted_clients_dir=pki["trusted_dir"],
        users_file=pki["users_file"],
    )
    yield server, url
    await server.stop()


async def _client(url, cert_key=None, user=None, policy=SecurityPolicyBasic256Sha256,
                  mode=ua.MessageSecurityMode.SignAndEncrypt) -> Client:
    client = Client(url, timeout=10)
    client.application_uri = CLIENT_URI
    if cert_key is not None:
        await client.set_security(policy, str(cert_key[0]), str(cert_key[1]), mode=mode)
    if user is not None:
        client.set_user(user)
        client.set_password(PASSWORDS.get(user, "wrong"))
    return client


async def _machine(client: Client):
    objects = client.nodes.objects
    idx = await client.get_namespace_index("urn:factory-sim:test")
    machine = await objects.get_child(f"{idx}:Machine")
    return idx, machine, await machine.get_child(f"{idx}:Setpoint")


async def test_endpoints_offer_the_five_security_modes(secured):
    _, url = secured
    client = Client(url)
    endpoints = await client.connect_and_get_server_endpoints()
    offered = {(e.SecurityPolicyUri.rsplit("#", 1)[1], e.SecurityMode) for e in endpoints}
    mode = ua.MessageSecurityMode
    assert offered == {
        ("None", mode.None_),
        ("Basic256Sha256", mode.Sign),
        ("Basic256Sha256", mode.SignAndEncrypt),
        ("Aes128_Sha256_RsaOaep", mode.Sign),
        ("Aes128_Sha256_RsaOaep", mode.SignAndEncrypt),
    }
    token_types = {t.TokenType for t in endpoints[0].UserIdentityTokens}
    assert token_types == {ua.UserTokenType.Anonymous, ua.UserTokenType.UserName}


async def test_server_certificate_carries_the_application_uri_and_is_reused(secured, pki):
    server, _ = secured
    own = pki["base"] / "state" / "pki" / "own"
    cert_file = own / "server-cert.der"
    first = cert_file.read_bytes()
    cert = x509.load_der_x509_certificate(first)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert SERVER_URI in san.get_values_for_type(x509.UniformResourceIdentifier)
    # A second start with the same state directory keeps the same certificate.
    settings = security.SecuritySettings(state_dir=pki["base"] / "state")
    again = await security._server_certificate(server, settings, own.parent)
    assert again == (cert_file, own / "server-key.pem")
    assert cert_file.read_bytes() == first


async def test_operator_over_sign_and_encrypt_calls_a_method(secured, pki):
    _, url = secured
    client = await _client(url, pki["trusted"], "otto")
    async with client:
        idx, machine, setpoint = await _machine(client)
        assert await setpoint.read_value() == 1.0
        assert await machine.call_method(f"{idx}:Reset") is True
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await setpoint.write_value(2.0)


async def test_engineer_writes_over_aes128_sign(secured, pki):
    _, url = secured
    client = await _client(
        url, pki["trusted"], "erin", SecurityPolicyAes128Sha256RsaOaep, ua.MessageSecurityMode.Sign
    )
    async with client:
        _, _, setpoint = await _machine(client)
        await setpoint.write_value(3.5)
        assert await setpoint.read_value() == 3.5


async def test_viewer_cannot_call_a_method(secured, pki):
    _, url = secured
    client = await _client(url, pki["trusted"], "vera")
    async with client:
        idx, machine, setpoint = await _machine(client)
        await setpoint.read_value()
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await machine.call_method(f"{idx}:Reset")


async def test_viewer_may_call_condition_refresh(secured, pki):
    _, url = secured

    class Events:
        def __init__(self):
            self.queue = asyncio.Queue()

        def event_notification(self, event):
            self.queue.put_nowait(event)

    client = await _client(url, pki["trusted"], "vera")
    async with client:
        events = Events()
        sub = await client.create_subscription(20, events)
        await sub.subscribe_events(client.nodes.server, ua.ObjectIds.BaseEventType)
        await client.nodes.server.call_method(
            ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
            ua.Variant(sub.subscription_id, ua.VariantType.UInt32),
        )
        first = await asyncio.wait_for(events.queue.get(), 5)
        assert first.EventType == ua.NodeId(ua.ObjectIds.RefreshStartEventType)


async def test_anonymous_reads_but_cannot_write(secured):
    _, url = secured
    client = await _client(url)
    async with client:
        _, _, setpoint = await _machine(client)
        await setpoint.read_value()
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await setpoint.write_value(9.0)


async def test_wrong_password_is_rejected(secured, pki):
    _, url = secured
    client = await _client(url, pki["trusted"], "otto")
    client.set_password("not-the-password")
    with pytest.raises((ua.uaerrors.BadUserAccessDenied, ua.uaerrors.BadIdentityTokenRejected)):
        await client.connect()
    client.disconnect_socket()


async def test_unknown_user_is_rejected(secured):
    _, url = secured
    client = await _client(url, user="mallory")
    with pytest.raises((ua.uaerrors.BadUserAccessDenied, ua.uaerrors.BadIdentityTokenRejected)):
        await client.connect()
    client.disconnect_socket()


async def test_untrusted_client_certificate_is_rejected_and_kept_for_review(secured, pki):
    _, url = secured
    client = await _client(url, pki["untrusted"], "otto")
    with pytest.raises(ua.uaerrors.BadCertificateUntrusted):
        await client.connect()
    client.disconnect_socket()
    rejected = list((pki["base"] / "state" / "pki" / "rejected").glob("*.der"))
    assert [p.read_bytes() for p in rejected] == [pki["untrusted"][0].read_bytes()]


async def test_trusting_a_rejected_certificate_needs_no_restart(secured, pki):
    _, url = secured
    copied = pki["trusted_dir"] / "moved-in.der"
    copied.write_bytes(pki["untrusted"][0].read_bytes())
    try:
        client = await _client(url, pki["untrusted"], "vera")
        async with client:
            _, _, setpoint = await _machine(client)
            await setpoint.read_value()
    finally:
        copied.unlink()
    client = await _client(url, pki["untrusted"], "vera")
    with pytest.raises(ua.uaerrors.BadCertificateUntrusted):
        await client.connect()
    client.disconnect_socket()


async def test_an_empty_trusted_folder_refuses_every_client(tmp_path, pki):
    server = Server()
    await security.apply(server, security.SecuritySettings(state_dir=tmp_path))
    assert (tmp_path / "pki" / "trusted").is_dir()
    cert = x509.load_der_x509_certificate(pki["trusted"][0].read_bytes())
    app = ua.ApplicationDescription(
        ApplicationUri=CLIENT_URI, ApplicationType=ua.ApplicationType.Client
    )
    with pytest.raises(ServiceError) as excinfo:
        await server.iserver.certificate_validator(cert, app)
    assert excinfo.value.code == ua.StatusCodes.BadCertificateUntrusted


async def test_accept_any_client_certificate_and_no_anonymous(pki):
    server, url = await _start_server(
        pki["base"] / "state-any",
        accept_any_client_certificate=True,
        users_file=pki["users_file"],
        allow_anonymous=False,
        policies=("Basic256Sha256-SignAndEncrypt",),
    )
    try:
        client = await _client(url, pki["untrusted"], "erin")
        async with client:
            _, _, setpoint = await _machine(client)
            await setpoint.write_value(7.0)
        anonymous = await _client(url, pki["untrusted"])
        with pytest.raises((ua.uaerrors.BadIdentityTokenRejected, ua.uaerrors.BadUserAccessDenied)):
            await anonymous.connect()
        anonymous.disconnect_socket()
    finally:
        await server.stop()


async def test_bad_settings_are_reported_clearly(tmp_path):
    server = Server()
    with pytest.raises(security.SecurityConfigError, match="unknown security policy 'Basic128'"):
        await security.apply(server, security.SecuritySettings(tmp_path, policies=("Basic128",)))
    with pytest.raises(security.SecurityConfigError, match="does not exist"):
        await security.apply(
            server, security.SecuritySettings(tmp_path, users_file=tmp_path / "nope.yaml")
        )
    with pytest.raises(security.SecurityConfigError, match="nobody could log in"):
        await security.apply(server, security.SecuritySettings(tmp_path, allow_anonymous=False))
