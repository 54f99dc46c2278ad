"""The users file: who may log in to the OPC UA server, with which role.

Passwords are stored as salted scrypt hashes, never in plain text, so the file can be
shared with a demo setup without handing out the passwords. The file is YAML:

```yaml
users:
  alice:
    role: operator
    password: scrypt$16384$8$1$<salt, base64>$<hash, base64>
```

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "users.yaml"
>>> add_user(path, "alice", Role.OPERATOR, "correct horse battery")
>>> load_users(path)["alice"].check_password("correct horse battery")
True

Only the standard library and pyyaml: the `factory-sim users` command uses this module
without loading asyncua.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import yaml

from bounded_yaml import YamlInputError, read_yaml_file

# scrypt cost: ~40 ms per check on the project's machines, 16 MiB of memory.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SALT_BYTES = 16
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# NIST SP 800-63B-4, 3.1.1.2: a password that is the only factor is at least 15 characters;
# the upper bound only keeps an input bounded (scrypt itself takes any length).
MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 15, 1024


class Role(Enum):
    """What a logged-in user may do; each role includes the rights of the ones before it."""

    VIEWER = "viewer"  # read, browse, subscribe, read history
    OPERATOR = "operator"  # also call methods (start/stop jobs, acknowledge alarms)
    ENGINEER = "engineer"  # also write settings

    @property
    def may_call_methods(self) -> bool:
        return self in (Role.OPERATOR, Role.ENGINEER)

    @property
    def may_write(self) -> bool:
        return self is Role.ENGINEER

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(r.value for r in cls)
            raise UsersFileError(f"unknown role {text!r} (expected one of: {choices})") from None


class UsersFileError(ValueError):
    """A users file that cannot be read or a request it cannot satisfy; the message says where."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    role: Role
    password_hash: str

    def check_password(self, password: str) -> bool:
        return verify_password(password, self.password_hash)


def hash_password(password: str) -> str:
    """A self-describing salted scrypt hash: `scrypt$N$r$p$salt$hash`."""
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        ("scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest))
    )


def verify_password(password: str, password_hash: str) -> bool:
    """Constant-time check of `password` against a hash made by `hash_password`."""
    try:
        scheme, n, r, p, salt, digest = password_hash.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


def load_users(path: Path | str) -> dict[str, UserRecord]:
    """Read and validate a users file; a missing file has no users."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = read_yaml_file(path, "users file")
    except YamlInputError as exc:
        raise UsersFileError(str(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("users", {}), dict):
        raise UsersFileError(f"{path}: expected a mapping with a 'users' mapping of name -> entry")
    users: dict[str, UserRecord] = {}
    for name, entry in (data.get("users") or {}).items():
        where = f"{path}: users.{name}"
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise UsersFileError(f"{where}: invalid user name (letters, digits, _ . @ - only)")
        if not isinstance(entry, dict):
            raise UsersFileError(f"{where}: expected a mapping with 'role' and 'password'")
        role_text, password_hash = entry.get("role"), entry.get("password")
        if not isinstance(role_text, str):
            raise UsersFileError(f"{where}.role: missing (viewer, operator or engineer)")
        try:
            role = Role.parse(role_text)
        except UsersFileError as exc:
            raise UsersFileError(f"{where}.role: {exc}") from None
        if not isinstance(password_hash, str) or not password_hash.startswith("scrypt$"):
            raise UsersFileError(
                f"{where}.password: expected a scrypt hash (add users with 'factory-sim users add')"
            )
        users[name] = UserRecord(name, role, password_hash)
    return users


def save_users(path: Path | str, users: dict[str, UserRecord]) -> None:
    """Write the file atomically and readable by its owner only (it holds password hashes)."""
    path = Path(path)
    document = {
        "users": {
            u.name: {"role": u.role.value, "password": u.password_hash}
            for u in sorted(users.values(), key=lambda u: u.name)
        }
    }
    text = "# factory-sim OPC UA users; edit with 'factory-sim users'.\n" + yaml.safe_dump(
        document, sort_keys=False
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_user(path: Path | str, name: str, role: Role, password: str, replace: bool = False) -> None:
    if not _NAME_PATTERN.match(name):
        raise UsersFileError(f"invalid user name {name!r} (1-64 letters, digits, _ . @ -)")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UsersFileError(f"user {name!r}: expected a password of {MIN_PASSWORD_LENGTH} to "
                             f"{MAX_PASSWORD_LENGTH} characters, got {len(password)}")
    users = load_users(path)
    if name in users and not replace:
        raise UsersFileError(f"{path}: user {name!r} exists (use --replace to change it)")
    users[name] = UserRecord(name, role, hash_password(password))
    save_users(path, users)


def remove_user(path: Path | str, name: str) -> None:
    users = load_users(path)
    if name not in users:
        raise UsersFileError(f"{path}: no user {name!r}")
    del users[name]
    save_users(path, users)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
