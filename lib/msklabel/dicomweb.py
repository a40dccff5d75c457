"""DICOMweb clients, with the login a PACS asks for: HTTP basic or a bearer token.

Secrets never sit in a configuration file: :class:`DicomWebAuth` names the environment
variables that hold them and reads them only when a client is made (into the session's
authentication, which nothing logs). No error message of this module holds them, nor the
settings that should name a variable (one may hold the secret by mistake).

Every configuration file that gives a DICOMweb login (an evaluation plan's ``dicomweb``
dataset, a listener's ``dicomweb`` destination) uses the same keys, read by
:func:`auth_from_table`:

.. code-block:: toml

    user = "msklabel"                    # HTTP basic: this user ...
    password_env = "PACS_PASSWORD"       # ... with the password in $PACS_PASSWORD
    # token_env = "PACS_TOKEN"           # or: Authorization: Bearer $PACS_TOKEN
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests
    from dicomweb_client.api import DICOMwebClient

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The keys of a login in a configuration table (:func:`auth_from_table`).
LOGIN_KEYS = ("user", "password_env", "token_env")
#: Keys that would write a secret into a file (refused), and the key to give instead.
_SECRET_KEYS = {"password": "password_env", "token": "token_env"}


class AuthSettingError(ValueError):
    """Login settings that do not fit together; ``key`` names the setting at fault."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason


class MissingSecret(LookupError):
    """An environment variable that should hold a password or token is unset or empty."""

    def __init__(self, variable: str) -> None:
        super().__init__(f"environment variable {variable} is not set")
        self.variable = variable


@dataclass(frozen=True)
class DicomWebAuth:
    """How to log in: HTTP basic as ``user`` with the password in the environment variable
    ``password_env``, or a bearer token in ``token_env``; none of them: no login."""

    user: str | None = None
    password_env: str | None = None
    token_env: str | None = None

    def __post_init__(self) -> None:
        if self.token_env is not None and (self.user or self.password_env):
            raise AuthSettingError(
                "token_env", "give user and password_env (HTTP basic) or token_env, not both"
            )
        if self.user is None and self.password_env is not None:
            raise AuthSettingError("user", "missing (HTTP basic needs user and password_env)")
        if self.user is not None and self.password_env is None:
            raise AuthSettingError(
                "password_env",
                "missing: name the environment variable that holds the password",
            )
        for key, variable in (("password_env", self.password_env), ("token_env", self.token_env)):
            if variable is not None and not _VARIABLE.fullmatch(variable):
                raise AuthSettingError(
                    key,
                    "not an environment variable name (letters, digits and _, not starting "
                    "with a digit): name the variable that holds the secret, not the secret",
                )

    @property
    def variable(self) -> str | None:
        """The environment variable holding the secret (None: no login)."""
        return self.token_env or self.password_env

    @property
    def variable_key(self) -> str | None:
        """The setting that names :attr:`variable`: ``token_env`` or ``password_env``."""
        if self.variable is None:
            return None
        return "token_env" if self.token_env is not None else "password_env"

    def __str__(self) -> str:
        """Which login this is, without its secret."""
        if self.token_env is not None:
            return f"the bearer token in ${self.token_env}"
        if self.user is not None:
            return f"user {self.user!r} with the password in ${self.password_env}"
        return "no credentials given"

    def secret(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The password or token, read from the environment now (None: no login);
        ``environ`` is another process's environment to look in instead."""
        if self.variable is None:
            return None
        secret = (os.environ if environ is None else environ).get(self.variable)
        if not secret:
            raise MissingSecret(self.variable)
        return secret

    def session(self) -> requests.Session:
        """A requests session that logs in, the secret read from the environment now."""
        import requests

        session = requests.Session()
        secret = self.secret()
        if secret is None:
            return session
        if self.token_env is not None:
            session.headers["Authorization"] = f"Bearer {secret}"
        else:
            session.auth = (str(self.user), secret)
        return session


def auth_from_table(table: Mapping[str, Any]) -> DicomWebAuth:
    """The login a configuration table gives by its :data:`LOGIN_KEYS` (its other keys are
    the caller's, but for ``password`` and ``token``). :class:`AuthSettingError` names the key
    at fault: a secret written in the table, a value that is not text, settings that do not
    fit together. The secret is not read here (:meth:`DicomWebAuth.secret`)."""
    for key, instead in _SECRET_KEYS.items():
        if key in table:
            reason = "never write a secret in a configuration file: name the environment variable"
            raise AuthSettingError(key, f"{reason} that holds it with {instead}")
    settings: dict[str, str | None] = {}
    for key in LOGIN_KEYS:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise AuthSettingError(key, f"must be text, got {type(value).__name__}")
        settings[key] = value
    return DicomWebAuth(**settings)


def refused_login(error: Exception, auth: DicomWebAuth) -> str | None:
    """What to say when ``error`` is the server refusing ``auth`` (HTTP 401 or 403), naming
    the login but not its secret; None for any other error."""
    response = getattr(error, "response", None)
    status = None if response is None else response.status_code
    if status not in (401, 403):
        return None
    return f"the server refused the login ({auth}; HTTP {status})"


def dicomweb_client(url: str, auth: DicomWebAuth | None = None) -> DICOMwebClient:
    """A DICOMweb client of the server at ``url`` that logs in with ``auth``."""
    from dicomweb_client.api import DICOMwebClient

    return DICOMwebClient(url=url, session=(auth or DicomWebAuth()).session())
