"""DICOMweb clients, with the login a PACS asks for: HTTP basic or a bearer token.

Secrets never sit in a configuration file: :class:`DicomWebAuth` names the environment
variables that hold them and reads them only when a client is made (into the session's
authentication, which nothing logs). No error message of this module holds them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests
    from dicomweb_client.api import DICOMwebClient

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
                raise AuthSettingError(key, f"not an environment variable name: {variable!r}")

    @property
    def variable(self) -> str | None:
        """The environment variable holding the secret (None: no login)."""
        return self.token_env or self.password_env

    def __str__(self) -> str:
        """Which login this is, without its secret."""
        if self.token_env is not None:
            return f"the bearer token in ${self.token_env}"
        if self.user is not None:
            return f"user {self.user!r} with the password in ${self.password_env}"
        return "no credentials given"

    def secret(self) -> str | None:
        """The password or token, read from the environment now (None: no login)."""
        if self.variable is None:
            return None
        secret = os.environ.get(self.variable)
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


def dicomweb_client(url: str, auth: DicomWebAuth | None = None) -> DICOMwebClient:
    """A DICOMweb client of the server at ``url`` that logs in with ``auth``."""
    from dicomweb_client.api import DICOMwebClient

    return DICOMwebClient(url=url, session=(auth or DicomWebAuth()).session())
