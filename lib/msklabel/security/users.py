"""Local users with roles for the labeling server: a users file of salted scrypt hashes.

One user per line: ``NAME ROLE HASH`` (``#`` starts a comment). The roles are MONAI Label's
two that matter here: ``annotator`` (infer, next sample, save labels) and ``admin``
(everything: train, upload, delete, download the dataset). The hash is scrypt from Python's
``hashlib`` (OpenSSL) with a 16-byte random salt per user and OWASP's parameters
(N = 2**17, r = 8, p = 1), stored as ``scrypt$N$r$p$SALT$KEY`` (base64); passwords are
compared in constant time and never stored or logged.

>>> line = user_line("alice", "annotator", "a long passphrase")  # doctest: +SKIP
>>> users = read_users("users.txt")  # doctest: +SKIP
>>> users["alice"].verify("a long passphrase")  # doctest: +SKIP
True
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from msklabel.errors import InputError

#: The environment variable that names the users file (``msklabel serve --users-file``).
USERS_ENV = "MSKLABEL_USERS_FILE"
ANNOTATOR, ADMIN = "annotator", "admin"
ROLES = (ANNOTATOR, ADMIN)
#: Shorter passwords are refused when a user is added.
MIN_PASSWORD_LENGTH = 12
#: A login's user name or password longer than this is refused unhashed.
MAX_PASSWORD_LENGTH = 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: OWASP password storage cheat sheet, scrypt: N = 2**17, r = 8, p = 1 (128 MiB).
_N, _R, _P = 2**17, 8, 1
_SALT_BYTES, _KEY_BYTES = 16, 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
        maxmem=2 * 128 * n * r + 1024 * 1024, dklen=_KEY_BYTES,
    )  # fmt: skip


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` (``scrypt$N$r$p$SALT$KEY``)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


@dataclass(frozen=True)
class User:
    """A user of the users file: name, role and password hash."""

    name: str
    role: str
    password_hash: str

    def verify(self, password: str) -> bool:
        """Whether ``password`` is this user's (constant-time comparison of the keys)."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        _, n, r, p, salt, key = self.password_hash.split("$")
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(computed, base64.b64decode(key))


def check_name(name: str) -> str:
    """``name`` if it is a plain user name (letters, digits, ``._@-``, at most 64), else raise."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"user name {name!r}: use letters, digits, '.', '_', '@' or '-'")
    return name


def user_line(name: str, role: str, password: str) -> str:
    """The users-file line of a new user (the password hashed with a fresh salt)."""
    check_name(name)
    if role not in ROLES:
        raise ValueError(f"role {role!r}: one of {', '.join(ROLES)}")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return f"{name} {role} {hash_password(password)}"


_HASH = re.compile(r"^scrypt\$(\d+)\$(\d+)\$(\d+)\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")


def read_users(path: str | os.PathLike[str]) -> dict[str, User]:
    """The users of a users file by name; :class:`InputError` names the file and the line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise InputError(path, f"cannot read the users file: {error.strerror}") from error
    users: dict[str, User] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        where = f"line {number}"
        if len(fields) != 3:
            raise InputError(path, f"{where}: expected NAME ROLE HASH")
        name, role, password_hash = fields
        if not _NAME.fullmatch(name):
            raise InputError(path, f"{where}: a user name has letters, digits, '.', '_', '@', '-'")
        if role not in ROLES:
            raise InputError(path, f"{where}: the role is one of {', '.join(ROLES)}")
        match = _HASH.fullmatch(password_hash)
        if match is None or int(match.group(1)) < 2**14:
            raise InputError(path, f"{where}: not a scrypt hash made by msklabel (N >= 2**14)")
        if name in users:
            raise InputError(path, f"{where}: user {name} appears twice")
        users[name] = User(name, role, password_hash)
    if not users:
        raise InputError(path, "the users file names no user")
    return users
