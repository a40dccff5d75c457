"""Authentication and roles in front of an ASGI app (the labeling server), with the login flow
MONAI Label's stock clients use.

Every request must carry ``Authorization: Bearer TOKEN``, except the three login endpoints the
3D Slicer MONAILabel plugin and :class:`monailabel.client.MONAILabelClient` call first:
``GET /auth/`` (is auth on?), ``POST /auth/token`` (a form with ``username`` and
``password``; answers ``{"access_token", "token_type": "bearer"}``) and
``GET /auth/token/valid``. Two kinds of credentials:

- users of a users file (:mod:`msklabel.security.users`): a login with a user's name and
  password answers a random session token (valid :data:`SESSION_TTL_S`) that carries the
  user's role;
- a shared token (``$MSKLABEL_TOKEN``): a login with any user name and the token as password
  answers the token itself; it has the admin role.

Roles follow MONAI Label's RBAC: an *annotator* may only do what :func:`annotator_may`
allows (app info, next sample, infer, download images and labels, save labels, sessions);
training, uploads, deletions and the dataset download need *admin* (403 otherwise).
Tokens and passwords are compared in constant time and never logged.

>>> app = TokenAuth(app, read_token(token_file=None))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from msklabel.errors import InputError
from msklabel.security.users import ADMIN, User

logger = logging.getLogger(__name__)

#: The environment variable that holds the token.
TOKEN_ENV = "MSKLABEL_TOKEN"
#: Shorter tokens are refused: a shared secret must not be guessable.
MIN_TOKEN_LENGTH = 16
#: A login form is tiny; a larger body is refused unread.
MAX_LOGIN_BODY = 16 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def read_token(token_file: str | os.PathLike[str] | None = None) -> str | None:
    """The token from ``token_file`` (first line) or else ``$MSKLABEL_TOKEN``; None if neither.

    Raises :class:`InputError` for a token shorter than :data:`MIN_TOKEN_LENGTH`.
    """
    if token_file is not None:
        path = Path(token_file)
        try:
            lines = path.read_text().splitlines()
        except OSError as error:
            raise InputError(path, f"cannot read the token file: {error.strerror}") from error
        token, source = (lines[0].strip() if lines else ""), path
    else:
        token, source = os.environ.get(TOKEN_ENV, "").strip(), f"${TOKEN_ENV}"
        if not token:
            return None
    if len(token) < MIN_TOKEN_LENGTH:
        raise InputError(
            source,
            f"the token must have at least {MIN_TOKEN_LENGTH} characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')",
        )
    return token


#: How long a user's session token is valid.
SESSION_TTL_S = 12 * 3600
#: Session tokens kept at most (the oldest are dropped first).
MAX_SESSIONS = 10_000

#: What an annotator may do: (methods, path pattern). Anything else needs admin.
#: Patterns match the whole decoded path (one trailing slash removed); a path the stock routes
#: would not match the same way (``..``, ``//``, encoded slashes) matches none of them.
_SEGMENT = r"[^/]+"
ANNOTATOR_MAY: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = tuple(
    (frozenset(methods.split()), re.compile(pattern))
    for methods, pattern in (
        ("GET HEAD", r"|/info|/docs|/openapi\.json|/favicon\.ico"),
        ("GET HEAD", r"/(ohif|static)(/.*)?"),
        ("GET HEAD", r"/datastore|/datastore/(image|label)(/info)?"),
        ("PUT", r"/datastore/label(/info)?|/datastore/updatelabelinfo"),
        ("POST", rf"/infer/{_SEGMENT}|/infer/wsi_v2/{_SEGMENT}|/activelearning/{_SEGMENT}"),
        ("GET HEAD", r"/train|/scoring|/batch/infer"),  # task status
        ("GET HEAD PUT DELETE", rf"/session|/session/{_SEGMENT}"),
        ("GET HEAD POST", r"/proxy/dicom/(wado|qido)/.*"),
    )
)


def annotator_may(method: str, path: str) -> bool:
    """Whether the annotator role may send ``method`` to ``path`` (a decoded URL path)."""
    if path.endswith("/"):
        path = path[:-1]
    if ".." in path.split("/") or "//" in path or "\\" in path:
        return False
    return any(method in methods and pattern.fullmatch(path) for methods, pattern in ANNOTATOR_MAY)


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    expires: float


class TokenAuth:
    """ASGI middleware: ``app`` answers only requests that present a valid token, and an
    annotator's only where :func:`annotator_may`.

    ``token``: the shared (admin) token, or None; ``users``: the users by name (from
    :func:`msklabel.security.users.read_users`), or None. At least one must be given.
    """

    def __init__(
        self, app: ASGIApp, token: str | None = None, users: Mapping[str, User] | None = None
    ) -> None:
        if token is None and not users:
            raise ValueError("TokenAuth needs a shared token or users")
        self.app = app
        self._token = token.encode() if token is not None else None
        self._users = dict(users or {})
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        # Logins hash with 128 MiB of memory each: one at a time.
        self._hashing = asyncio.Semaphore(1)

    def _role(self, presented: str) -> str | None:
        """The role of a presented token, or None."""
        if self._token is not None and _same(presented, self._token):
            return ADMIN
        session = self._sessions.get(presented)
        if session is None:
            return None
        if session.expires < time.monotonic():
            self._sessions.pop(presented, None)
            return None
        return session.role

    def _bearer_role(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None
                return self._role(credential.strip())
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            # Lifespan events, and CORS preflights (browsers send them without credentials).
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "").rstrip("/")
        if scope["type"] == "http" and path == "/auth":
            await _json(send, 200, {"enabled": True, "client_id": None, "realm": None})
            return
        if scope["type"] == "http" and path == "/auth/token" and scope["method"] == "POST":
            await self._login(receive, send)
            return
        role = self._bearer_role(scope)
        method = scope.get("method", "GET")
        if role is None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            logger.warning("refused %s %s: no valid token", method, _printable(scope["path"]))
            await _json(
                send,
                401,
                {"detail": "a bearer token is required (Authorization: Bearer TOKEN)"},
                [(b"www-authenticate", b"Bearer")],
            )
        elif path == "/auth/token/valid":
            await _json(send, 200, {})
        elif role == ADMIN or (scope["type"] == "http" and annotator_may(method, scope["path"])):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            logger.warning("refused %s %s: role %s", method, _printable(scope["path"]), role)
            await _json(
                send, 403, {"detail": f"the {role} role may not {method} {_printable(path)}"}
            )

    async def _login(self, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_LOGIN_BODY:
                await _json(send, 413, {"detail": "login form too large"})
                return
            if not message.get("more_body"):
                break
        form = parse_qs(body.decode("utf-8", errors="replace"))
        username = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        user = self._users.get(username)
        if self._users:
            # An unknown name costs one hash too: the answer's time does not tell names apart.
            checked = user or next(iter(self._users.values()))
            async with self._hashing:
                valid = await asyncio.to_thread(checked.verify, password)
            if user is not None and valid:
                await _json(send, 200, {"access_token": self._open(user), "token_type": "bearer"})
                return
        if user is None and self._token is not None and _same(password, self._token):
            await _json(send, 200, {"access_token": self._token.decode(), "token_type": "bearer"})
            return
        logger.warning("refused a login: wrong user name or password")
        await _json(
            send, 401, {"detail": "wrong user name or password"}, [(b"www-authenticate", b"Bearer")]
        )

    def _open(self, user: User) -> str:
        """A new session token for ``user``."""
        now = time.monotonic()
        for token in [t for t, s in self._sessions.items() if s.expires < now]:
            del self._sessions[token]
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        token = secrets.token_urlsafe(32)
        self._sessions[token] = Session(user.name, user.role, now + SESSION_TTL_S)
        return token


def _same(presented: str, secret: bytes) -> bool:
    return hmac.compare_digest(presented.encode("utf-8", errors="replace"), secret)


def _printable(text: str, limit: int = 200) -> str:
    """``text`` for a log line: no control characters (no forged lines), at most ``limit``."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


async def _json(
    send: Send, status: int, content: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
