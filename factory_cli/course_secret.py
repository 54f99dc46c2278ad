"""A course's secret and the per-student seeds derived from it.

The teacher creates the secret once (`factory-sim lab secret course.key`) and keeps it. Each
student's seed is HMAC-SHA256(secret, student id) cut to 64 bits: without the secret nobody
can compute another student's seed (or their answer key), and for a class of n students the
chance that two share a seed is about n² / 2⁶⁵ (a class of 1,000: 2.7e-14).

>>> secret = bytes(range(32))
>>> student_seed(secret, " S1234567 ") == student_seed(secret, "s1234567")
True
>>> 0 <= student_seed(secret, "s1234567") < 2**64
True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from factory_cli.errors import CliError

SECRET_BYTES = 32
_SECRET_FILE_LIMIT = 1024  # a secret file holds one line of hex
_PURPOSE = b"factory-sim lab seed\x00"  # domain separation: the secret may serve other uses
STUDENT_ID = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


def normalise_student(student: object, where: str) -> str:
    """A student id as seeds use it (trimmed, lower case); CliError naming `where` if not one."""
    text = str(student).strip().lower() if student is not None else ""
    if not STUDENT_ID.match(text):
        shown = repr(student)[:70]
        raise CliError(f"{where}: expected a student id (1 to 64 letters, digits, . _ @ -), "
                       f"got {shown}")
    return text


def student_seed(secret: bytes, student: str) -> int:
    """The student's seed: 64 bits of HMAC-SHA256(secret, normalised id)."""
    message = _PURPOSE + student.strip().lower().encode("utf-8")
    return int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:8], "big")


def create_secret(path: Path) -> None:
    """Write a new random secret to `path` (readable by its owner only); never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(f"{path}: exists; a course keeps its secret (delete the file to start "
                       "a new course: every seed changes)") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot create the secret file ({exc.strerror})") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(SECRET_BYTES) + "\n")


def read_secret(path: Path | None) -> bytes:
    """The secret in `path` (hex, as `create_secret` writes it); CliError if missing or bad."""
    if path is None:
        raise CliError("--secret-file: required: seeds and answer keys come from the course "
                       "secret only the teacher holds (`factory-sim lab secret FILE` makes one)")
    try:
        with path.open("rb") as handle:
            raw = handle.read(_SECRET_FILE_LIMIT + 1)
    except OSError as exc:
        raise CliError(f"--secret-file {path}: cannot read it ({exc.strerror})") from None
    text = raw.decode("ascii", "replace").strip()
    if len(raw) > _SECRET_FILE_LIMIT or not re.fullmatch(r"[0-9a-fA-F]{32,256}", text) or len(
            text) % 2:
        raise CliError(f"--secret-file {path}: expected one line of at least 32 hex digits "
                       "(as `factory-sim lab secret` writes it)")
    return bytes.fromhex(text)
