"""What the OPC UA input tells a user when it cannot start: one line, what failed, where, and
what to check."""

from __future__ import annotations

import asyncio

from asyncua import ua

from mqtt_bridge.inputs.opcua.discovery import DiscoveryError
from mqtt_bridge.inputs.opcua.session import UntrustedServerError
from mqtt_bridge.inputs.opcua.settings import OpcUaSettings


class SourceError(Exception):
    """The OPC UA side cannot start; the message says what and where, for a user."""


_LOGIN_ERRORS = ("BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid")
_CERT_ERRORS = ("BadCertificate", "BadSecurity")


def describe_error(exc: BaseException, settings: OpcUaSettings) -> str:
    """One line for a user: what failed, where, and what to check."""
    url = settings.url
    name = type(exc).__name__
    if isinstance(exc, DiscoveryError | UntrustedServerError):
        return f"{url}: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach the OPC UA server at {url}: connection refused (is it running?)"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"the OPC UA server at {url} did not answer within {settings.timeout:g} s"
    if isinstance(exc, OSError):
        return f"cannot reach the OPC UA server at {url}: {exc.strerror or exc}"
    if name in _LOGIN_ERRORS:
        if settings.username is None:
            return (
                f"the OPC UA server at {url} refused an anonymous login ({name}): give a "
                "username (--opcua-user) and password (FACTORY_SIM_BRIDGE_OPCUA_PASSWORD)"
            )
        return (
            f"the OPC UA server at {url} refused user {settings.username!r}: wrong username or "
            f"password ({name})"
        )
    if name.startswith(_CERT_ERRORS):
        return (
            f"the OPC UA server at {url} rejected the secure channel ({name}): check the "
            "security policy/mode, the client certificate and that the server trusts it"
        )
    if isinstance(exc, ua.UaStatusCodeError):
        return f"the OPC UA server at {url} answered {name}: {exc}"
    return f"OPC UA connection to {url} failed: {name}: {exc}"
