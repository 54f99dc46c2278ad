"""Security for the simulator's OPC UA server: endpoints, certificates, users and roles.

A real shop floor server is secured, so the simulator is too; integrators test their clients
against signed and encrypted endpoints, user logins and refused requests. Call `apply` after
the server's `init()` and `set_application_uri()` and before `start()`:

    await apply(server, SecuritySettings(state_dir=Path("state"), users_file=Path("users.yaml")))

What it sets up:
- endpoints for the policies in `settings.policies` (None, Basic256Sha256 and
  Aes128_Sha256_RsaOaep, each with Sign and SignAndEncrypt, by default);
- the server certificate: the one given, or a self-signed one generated into
  `state_dir/pki/own/` on first start (application URI in subjectAltName) and reused later;
- client certificates: trusted if found in `trusted_clients_dir` (default
  `state_dir/pki/trusted/`); a refused certificate is saved to `state_dir/pki/rejected/` so an
  administrator can move it to the trusted folder; `accept_any_client_certificate` for demos;
- users from a users file (see `opcua_server.users`) with roles: viewer reads, browses,
  subscribes and calls ConditionRefresh; operator also calls methods; engineer also writes.
  Anonymous sessions, if allowed, are viewers. Everything else answers BadUserAccessDenied.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto import cert_gen, uacrypto
from asyncua.crypto.permission_rules import PermissionRuleset, User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.ua.ua_binary import struct_from_binary
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from opcua_server.types import jobs
from opcua_server.users import (
    Role,
    UserRecord,
    UsersFileError,
    hash_password,
    load_users,
    verify_password,
)

_logger = logging.getLogger(__name__)

#: Endpoint names accepted in `SecuritySettings.policies` (and on command lines).
POLICIES: dict[str, ua.SecurityPolicyType] = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Basic256Sha256-Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "Basic256Sha256-SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    "Aes128_Sha256_RsaOaep-Sign": ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign,
    "Aes128_Sha256_RsaOaep-SignAndEncrypt": (
        ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt
    ),
}
DEFAULT_POLICIES: tuple[str, ...] = tuple(POLICIES)
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")

# Method calls a viewer may make: a client needs ConditionRefresh to see the active alarms.
_VIEWER_METHODS = frozenset(
    {
        ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
        ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh2),
    }
)
# ... and a machine's JobOrderResults/RequestJobResponseBy...: reading job responses
_JOB_RESPONSE_METHODS = tuple(f"/JobOrderResults/{name}" for name in jobs.PROVIDER_METHODS)
_WRITE = ua.NodeId(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary)
_CALL = ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)
# Address-space changes and history rewrites: nobody over the network.
_NEVER = frozenset(
    ua.NodeId(i)
    for i in (
        ua.ObjectIds.AddNodesRequest_Encoding_DefaultBinary,
        ua.ObjectIds.DeleteNodesRequest_Encoding_DefaultBinary,
        ua.ObjectIds.AddReferencesRequest_Encoding_DefaultBinary,
        ua.ObjectIds.DeleteReferencesRequest_Encoding_DefaultBinary,
        ua.ObjectIds.HistoryUpdateRequest_Encoding_DefaultBinary,
        ua.ObjectIds.RegisterServerRequest_Encoding_DefaultBinary,
        ua.ObjectIds.RegisterServer2Request_Encoding_DefaultBinary,
    )
)


class SecurityConfigError(ValueError):
    """Security settings that cannot work; the message names the setting and the file."""


@dataclass
class SecuritySettings:
    state_dir: Path
    certificate: Path | None = None
    private_key: Path | None = None
    trusted_clients_dir: Path | None = None
    accept_any_client_certificate: bool = False
    users_file: Path | None = None
    allow_anonymous: bool = True
    policies: tuple[str, ...] = field(default=DEFAULT_POLICIES)
    #: host names and addresses the generated certificate covers besides this machine's name,
    #: localhost and 127.0.0.1 (the ones clients connect with: a client checks the endpoint's)
    certificate_hosts: tuple[str, ...] = ()


@dataclass
class FactoryUser(User):
    """asyncua's session user plus our role (asyncua's own role stays User: per-node
    access levels still apply to writes)."""

    access: Role = Role.VIEWER


class RoleRuleset(PermissionRuleset):
    """Checks every request of a session against its user's role, before asyncua runs it."""

    def check_validity(self, user: User, action_type_id: ua.NodeId, body) -> bool:
        if action_type_id in _NEVER:
            return False
        access = getattr(user, "access", Role.VIEWER)
        if action_type_id == _WRITE:
            return access.may_write
        if action_type_id == _CALL:
            return access.may_call_methods or _only_viewer_methods(body)
        return True


class UsersFileManager:
    """asyncua user manager backed by the users file (read once, at `apply`).

    A password check costs ~40 ms of scrypt, so the server's connections
    (opcua_server.asyncua_adapter.hardening) call `get_user_async`: the check runs in a worker
    thread, one at a time per user name and client address. Failed logins slow a guesser
    without locking out the rightful user: after `FREE_FAILURES` failures of one user name from
    one address, each further attempt of that pair waits before its check, `FIRST_DELAY_S`
    doubling with every failure up to `MAX_DELAY_S`; a success, or `FORGET_AFTER_S` without a
    failure, clears the pair. Other users, and the same user from another address, wait for
    nothing. An unknown user costs the same check as a known one, so names cannot be told by
    timing.
    """

    FREE_FAILURES = 3
    FIRST_DELAY_S = 1.0
    MAX_DELAY_S = 8.0
    FORGET_AFTER_S = 600.0
    MAX_TRACKED = 10_000  # (user, address) pairs remembered; the oldest are forgotten

    def __init__(self, users: dict[str, UserRecord], allow_anonymous: bool):
        self._users = users
        self._allow_anonymous = allow_anonymous
        self._dummy_hash = hash_password(os.urandom(16).hex())
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="password-check")
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        #: (user, address) -> (failed logins, monotonic time of the last one)
        self._failures: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        #: results of `get_user_async`, taken by the `get_user` asyncua calls right after it
        self._verified: dict[tuple[str, bytes], User] = {}

    def get_user(self, iserver, username=None, password=None, certificate=None) -> User | None:
        if username is None:
            if not self._allow_anonymous:
                return None
            return FactoryUser(role=UserRole.Anonymous, name=None, access=Role.VIEWER)
        verified = self._verified.pop(_key(username, password), None)
        return verified if verified is not None else self._check(username, password)

    def delay_for(self, failures: int) -> float:
        """Seconds an attempt waits after `failures` failed logins of its user and address.

        >>> manager = UsersFileManager({}, allow_anonymous=False)
        >>> [manager.delay_for(n) for n in range(9)]
        [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
        """
        if failures < self.FREE_FAILURES:
            return 0.0
        return min(self.FIRST_DELAY_S * 2 ** (failures - self.FREE_FAILURES), self.MAX_DELAY_S)

    def failures(self, username: str, peer: str) -> int:
        """Failed logins of `username` from `peer` that still count."""
        count, last = self._failures.get((username, peer), (0, 0.0))
        return count if time.monotonic() - last < self.FORGET_AFTER_S else 0

    async def get_user_async(self, iserver, username: str | None, password: str | None,
                             peer: str) -> User | None:
        if username is None or password is None:
            return self.get_user(iserver, username, password)
        pair = (username, peer)
        lock = self._locks.get(pair)
        if lock is None:
            self._forget_idle_locks()
            lock = self._locks[pair] = asyncio.Lock()
        async with lock:
            failures = self.failures(username, peer)
            delay = self.delay_for(failures)
            if delay:
                _logger.info("login of user %r from %s waits %g s: %d failed logins",
                             username, peer, delay, failures)
                await asyncio.sleep(delay)
            user = await asyncio.get_running_loop().run_in_executor(
                self._workers, self._check, username, password)
            self._failures.pop(pair, None)
            if user is None:
                self._failures[pair] = (failures + 1, time.monotonic())
                while len(self._failures) > self.MAX_TRACKED:
                    self._failures.popitem(last=False)
                return None
        if len(self._verified) >= 1000:  # left by activations that failed after the check
            self._verified.clear()
        self._verified[_key(username, password)] = user
        return user

    def _forget_idle_locks(self) -> None:
        if len(self._locks) >= self.MAX_TRACKED:
            self._locks = {pair: lock for pair, lock in self._locks.items() if lock.locked()}

    def _check(self, username: str, password: str | None) -> User | None:
        record = self._users.get(username)
        # an unknown user costs a check too: the time does not tell which names exist
        valid = verify_password(password or "", record.password_hash if record else
                                self._dummy_hash)
        if record is None or password is None or not valid:
            _logger.info("refused login for user %r: %s", username,
                         "unknown user" if record is None else "wrong password")
            return None
        return FactoryUser(role=UserRole.User, name=record.name, access=record.role)


def parse_policies(names: Iterable[str]) -> list[ua.SecurityPolicyType]:
    result = []
    for name in names:
        if name not in POLICIES:
            raise SecurityConfigError(
                f"unknown security policy {name!r} (expected: {', '.join(POLICIES)})"
            )
        result.append(POLICIES[name])
    if not result:
        raise SecurityConfigError("no security policy selected")
    return result


async def apply(server: Server, settings: SecuritySettings) -> None:
    """Configure endpoints, certificates, users and permissions; call before `server.start()`."""
    policies = parse_policies(settings.policies)
    settings.certificate_hosts = tuple(check_certificate_host(h) for h in
                                       settings.certificate_hosts)
    users: dict[str, UserRecord] = {}
    if settings.users_file is not None:
        if not Path(settings.users_file).is_file():
            raise SecurityConfigError(f"users file {settings.users_file} does not exist")
        try:
            users = load_users(settings.users_file)
        except UsersFileError as exc:
            raise SecurityConfigError(str(exc)) from None
    if not settings.allow_anonymous and not users:
        raise SecurityConfigError(
            "anonymous access is off and no users are configured: nobody could log in"
        )

    pki = Path(settings.state_dir) / "pki"
    cert_path, key_path = await _server_certificate(server, settings, pki)
    await server.load_certificate(str(cert_path))
    await server.load_private_key(str(key_path))

    tokens: list[type] = []
    if settings.allow_anonymous:
        tokens.append(ua.AnonymousIdentityToken)
    if users:
        tokens.append(ua.UserNameIdentityToken)
    server.set_identity_tokens(tokens)
    server.iserver.set_user_manager(UsersFileManager(users, settings.allow_anonymous))
    server.set_security_policy(policies, permission_ruleset=RoleRuleset())

    if settings.accept_any_client_certificate:
        _logger.warning("accepting any client certificate: for demos only")
        server.iserver.certificate_validator = None
    else:
        trusted = Path(settings.trusted_clients_dir or pki / "trusted")
        if not trusted.is_dir():
            if settings.trusted_clients_dir is not None:
                raise SecurityConfigError(f"trusted client certificates: {trusted} is not a folder")
            trusted.mkdir(parents=True)
        trust = _TrustedFolder(trusted)
        await trust.load()
        server.set_certificate_validator(_RememberRejected(trust, pki / "rejected"))


async def _server_certificate(
    server: Server, settings: SecuritySettings, pki: Path
) -> tuple[Path, Path]:
    """The given certificate and key, or a self-signed pair kept in the state directory."""
    if (settings.certificate is None) != (settings.private_key is None):
        raise SecurityConfigError("give both a certificate and a private key, or neither")
    if settings.certificate is not None and settings.private_key is not None:
        given = (("certificate", settings.certificate), ("private key", settings.private_key))
        for what, path in given:
            if not Path(path).is_file():
                raise SecurityConfigError(f"server {what} {path} does not exist")
        return Path(settings.certificate), Path(settings.private_key)

    own = pki / "own"
    own.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = own / "server-cert.der", own / "server-key.pem"
    uri = server.get_application_uri()
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = await uacrypto.load_certificate(cert_path)
        except ValueError:
            cert = None
        wanted = set(default_certificate_hosts()) | set(settings.certificate_hosts)
        if cert is not None and not uacrypto.check_certificate(cert, uri):
            missing = wanted - set(certificate_hosts(cert))
            if not missing:
                return cert_path, key_path
            _logger.warning("%s does not cover %s: generating a new one", cert_path,
                            ", ".join(sorted(missing)))
        else:
            _logger.warning("%s is expired or not for %s: generating a new one", cert_path, uri)
    write_self_signed_certificate(
        cert_path, key_path, uri, server.name, [ExtendedKeyUsageOID.SERVER_AUTH],
        hosts=settings.certificate_hosts,
    )
    return cert_path, key_path


def default_certificate_hosts() -> list[str]:
    """What a generated certificate always covers: this machine's name and loopback."""
    return [socket.gethostname(), "localhost", "127.0.0.1"]


def certificate_hosts(cert: x509.Certificate) -> list[str]:
    """The host names and addresses in a certificate's subjectAltName, in its order."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*names.get_values_for_type(x509.DNSName),
            *(str(a) for a in names.get_values_for_type(x509.IPAddress))]


def check_certificate_host(text: str) -> str:
    """A host name or an IP address for a certificate; raises SecurityConfigError otherwise."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    labels = text.rstrip(".").split(".")
    if not (0 < len(text) <= 253 and all(_HOST_LABEL.match(label) for label in labels)):
        raise SecurityConfigError(f"certificate host {text!r}: expected a host name "
                                  "(letters, digits, '-', dots) or an IP address")
    return text.rstrip(".").lower()


def write_self_signed_certificate(
    cert_path: Path,
    key_path: Path,
    application_uri: str,
    common_name: str,
    usage: list[x509.ObjectIdentifier],
    days: int = 365,
    hosts: Iterable[str] = (),
) -> None:
    """A self-signed application certificate (DER) and its key (PEM, owner-only).

    Clients check the application URI in subjectAltName; the host names and addresses
    (`default_certificate_hosts()` and `hosts`) let them check the endpoint host too. Also
    used by tests and tools to make client certificates.
    """
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    for host in dict.fromkeys((*default_certificate_hosts(), *hosts)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = cert_gen.generate_self_signed_app_certificate(
        key, common_name, {}, names, extended=usage, days=days
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))


class _TrustedFolder:
    """The trusted client certificates: a folder, re-read when its content changes, so that an
    administrator can trust a client by moving its certificate there, without a restart."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._stamp: tuple | None = None
        self._validator: CertificateValidator | None = None

    async def load(self) -> None:
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return
        options = CertificateValidatorOptions
        if stamp[1]:  # asyncua's store refuses to be empty
            store = TrustStore([self.folder], [])
            try:
                await store.load()
            except ValueError as exc:
                raise SecurityConfigError(
                    f"trusted client certificates in {self.folder}: a file is not a "
                    f"certificate ({exc})"
                ) from None
            self._validator = CertificateValidator(
                options.TRUSTED_VALIDATION | options.PEER_CLIENT, store
            )
        else:
            self._validator = None  # nothing trusted: every certificate is refused
        self._stamp = stamp

    async def validate(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        try:
            await self.load()
        except SecurityConfigError as exc:
            _logger.error("%s", exc)
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted) from None
        if self._validator is None:
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
        await self._validator.validate(cert, app)

    def _current_stamp(self) -> tuple:
        files = sorted(
            (p.name, p.stat().st_mtime_ns)
            for p in self.folder.iterdir()
            if p.suffix.lower() in (".der", ".pem") and p.is_file()
        )
        return (self.folder.stat().st_mtime_ns, tuple(files))


class _RememberRejected:
    """Validator: saves refused client certificates for an administrator to trust."""

    def __init__(self, trust: _TrustedFolder, rejected_dir: Path):
        self._trust = trust
        self._rejected = rejected_dir

    async def __call__(self, cert: x509.Certificate, app_description: ua.ApplicationDescription):
        try:
            await self._trust.validate(cert, app_description)
        except ServiceError:
            self._rejected.mkdir(parents=True, exist_ok=True)
            name = f"{_safe(app_description.ApplicationUri)}-{cert.serial_number:x}.der"
            (self._rejected / name).write_bytes(cert.public_bytes(Encoding.DER))
            _logger.warning(
                "refused client certificate of %s; to trust it, move %s to %s",
                app_description.ApplicationUri,
                self._rejected / name,
                self._trust.folder,
            )
            raise


def _key(username: str, password: str | None) -> tuple[str, bytes]:
    """What `_verified` is keyed by: no password kept in memory."""
    return username, hashlib.sha256((password or "").encode()).digest()


def _only_viewer_methods(body) -> bool:
    """True if a Call request (not yet decoded) only calls methods a viewer may call."""
    try:
        params = struct_from_binary(ua.CallParameters, body.copy())
    except Exception:
        return False
    return bool(params.MethodsToCall) and all(
        m.MethodId in _VIEWER_METHODS or _reads_job_responses(m.MethodId)
        for m in params.MethodsToCall
    )


def _reads_job_responses(method: ua.NodeId) -> bool:
    """A machine's RequestJobResponseBy... (Job Management): reading, not dispatching."""
    return isinstance(method.Identifier, str) and method.Identifier.endswith(
        _JOB_RESPONSE_METHODS)


def _safe(text: str | None) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in (text or "unknown"))[:80]


async def offered_modes(server: Server) -> list[str]:
    """The endpoints a running server offers, as "policy (mode)" strings, e.g.
    "Basic256Sha256 (Sign)"."""
    modes = []
    for endpoint in await server.get_endpoints():
        policy = endpoint.SecurityPolicyUri.rsplit("#", 1)[-1]
        mode = f"{policy} ({endpoint.SecurityMode.name.rstrip('_')})"
        if mode not in modes:
            modes.append(mode)
    return modes


def served_certificate_hosts(server: Server) -> list[str]:
    """The host names and addresses a running server's certificate covers (none without one):
    a client that checks the endpoint's host refuses any other."""
    certificate = server.iserver.certificate
    return [] if certificate is None else certificate_hosts(certificate)
