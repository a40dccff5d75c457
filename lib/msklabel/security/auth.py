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

The OHIF served at ``/ohif/`` sends no ``Authorization`` header, so a browser logs in through
a form: opening ``/ohif/...`` without a credential leads to ``GET /auth/login`` (a page with
the form), ``POST /auth/login`` checks the user as above and sets the token in an HttpOnly,
``SameSite=Strict`` session cookie (``Secure`` over HTTPS), then goes back (to a path on this
server only). The cookie counts only when no ``Authorization`` header is sent, and a write
(not GET/HEAD) carrying it is refused when ``Origin`` or ``Referer`` names another host.

Roles follow MONAI Label's RBAC: an *annotator* may only do what :func:`annotator_may`
allows (app info, next sample, infer, download images and labels, save labels, sessions);
training, uploads, deletions and the dataset download need *admin* (403 otherwise).
Tokens and passwords are compared in constant time and never logged.

>>> app = TokenAuth(app, read_token(token_file=None))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
import html
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
from urllib.parse import parse_qs, urlencode, urlsplit

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
        ("GET HEAD", r"/proxy/dicom/(wado|qido)/.*"),  # a POST there may be forwarded as STOW
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

    def _credential_role(self, scope: Scope) -> tuple[str | None, bool]:
        """The role of the request's credential, and whether it came from the session cookie
        (used only when no ``Authorization`` header is sent)."""
        cookie = None
        for name, value in scope.get("headers", []):
            name = name.lower()
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return None, False
                return self._role(credential.strip()), False
            if name == b"cookie" and cookie is None:
                cookie = _cookie(value.decode("latin-1"), COOKIE)
        if cookie is None:
            return None, False
        return self._role(cookie), True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            # Lifespan events, and CORS preflights (browsers send them without credentials).
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "").rstrip("/")
        method = scope.get("method", "GET")
        if ".." in path.split("/") or "\\" in path:
            # No stock route needs them; the DICOMweb proxy would pass them on to the PACS.
            logger.warning("refused %s %s: dot segments", method, _printable(scope["path"]))
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _json(send, 400, {"detail": "'..' and '\\' are not allowed in the path"})
            return
        if scope["type"] == "http" and path == "/auth":
            await _json(send, 200, {"enabled": True, "client_id": None, "realm": None})
            return
        if scope["type"] == "http" and path == "/auth/token" and method == "POST":
            form = await _form(receive, send)
            if form is not None:
                await self._token_login(form, send)
            return
        if scope["type"] == "http" and path == "/auth/login" and method in ("GET", "HEAD"):
            next_path = _safe_next(_query(scope).get("next", ""))
            await _html(send, 200, _login_page(next_path, ""))
            return
        if scope["type"] == "http" and path == "/auth/login" and method == "POST":
            form = await _form(receive, send)
            if form is not None:
                await self._browser_login(scope, form, send)
            return
        role, from_cookie = self._credential_role(scope)
        if role is None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            logger.warning("refused %s %s: no valid token", method, _printable(scope["path"]))
            if method in ("GET", "HEAD") and (path == "" or path.startswith("/ohif")):
                # A browser opening the viewer: to the login page, then back.
                target = scope["path"] + (
                    "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
                )
                location = "/auth/login?" + urlencode({"next": _safe_next(target)})
                await _redirect(send, location)
                return
            await _json(
                send,
                401,
                {"detail": "a bearer token is required (Authorization: Bearer TOKEN)"},
                [(b"www-authenticate", b"Bearer")],
            )
        elif from_cookie and method not in ("GET", "HEAD") and not _same_origin(scope):
            logger.warning("refused %s %s: cross-origin", method, _printable(scope["path"]))
            await _json(send, 403, {"detail": "cross-origin request refused"})
        elif path == "/auth/token/valid":
            await _json(send, 200, {})
        elif role == ADMIN or (scope["type"] == "http" and annotator_may(method, scope["path"])):
            await self.app(_without_credentials(scope), receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            logger.warning("refused %s %s: role %s", method, _printable(scope["path"]), role)
            await _json(
                send, 403, {"detail": f"the {role} role may not {method} {_printable(path)}"}
            )

    async def _check(self, form: dict[str, list[str]]) -> str | None:
        """A new token for the form's ``username`` and ``password``, or None."""
        username = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        user = self._users.get(username)
        if self._users:
            # An unknown name costs one hash too: the answer's time does not tell names apart.
            checked = user or next(iter(self._users.values()))
            async with self._hashing:
                valid = await asyncio.to_thread(checked.verify, password)
            if user is not None and valid:
                return self._open(user)
        if user is None and self._token is not None and _same(password, self._token):
            return self._token.decode()
        logger.warning("refused a login: wrong user name or password")
        return None

    async def _token_login(self, form: dict[str, list[str]], send: Send) -> None:
        token = await self._check(form)
        if token is None:
            await _json(
                send,
                401,
                {"detail": "wrong user name or password"},
                [(b"www-authenticate", b"Bearer")],
            )
            return
        await _json(send, 200, {"access_token": token, "token_type": "bearer"})

    async def _browser_login(self, scope: Scope, form: dict[str, list[str]], send: Send) -> None:
        next_path = _safe_next((form.get("next") or [""])[0])
        if not _same_origin(scope):
            await _html(send, 403, _login_page(next_path, "cross-origin login refused"))
            return
        token = await self._check(form)
        if token is None:
            await _html(send, 401, _login_page(next_path, "wrong user name or password"))
            return
        secure = "; Secure" if scope.get("scheme") in ("https", "wss") else ""
        cookie = (
            f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL_S}{secure}"
        )
        await _redirect(send, next_path, [(b"set-cookie", cookie.encode("latin-1"))])

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


#: The browser session cookie (the viewer served by the server logs in through a form).
COOKIE = "msklabel_session"
_LOGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>msklabel: log in</title></head>
<body style="font-family: sans-serif; max-width: 22em; margin: 4em auto">
<h1>msklabel</h1><p>Log in to the labeling server.</p><p style="color: #b00">{error}</p>
<form method="post" action="/auth/login">
<input type="hidden" name="next" value="{next}">
<p><label>User name<br><input name="username" autocomplete="username" required></label></p>
<p><label>Password<br><input name="password" type="password"
 autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p>
</form><p>Research software: not for clinical use.</p></body></html>
"""


def _login_page(next_path: str, error: str) -> str:
    return _LOGIN_PAGE.format(next=html.escape(next_path), error=html.escape(error))


def _safe_next(target: str) -> str:
    """Where to go after the login: a path on this server only (no open redirect)."""
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(not c.isprintable() or c.isspace() for c in target)
        or len(target) > 2000
    ):
        return "/ohif/"
    return target


def _without_credentials(scope: Scope) -> Scope:
    """``scope`` without the ``Authorization`` header and the session cookie: the stock app
    does not need them, and its DICOMweb proxy forwards a POST's headers to the PACS."""
    headers = []
    for name, value in scope.get("headers", []):
        lowered = name.lower()
        if lowered == b"authorization":
            continue
        if lowered == b"cookie":
            kept = [
                part.strip()
                for part in value.decode("latin-1").split(";")
                if part.strip().partition("=")[0] != COOKIE
            ]
            if not kept:
                continue
            value = "; ".join(kept).encode("latin-1")
        headers.append((name, value))
    return {**scope, "headers": headers}


def _query(scope: Scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def _same_origin(scope: Scope) -> bool:
    """False when the browser says the request comes from another origin (``Origin`` or, when
    absent, ``Referer`` naming another host than ``Host``)."""
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }
    host = headers.get("host", "")
    source = headers.get("origin") or headers.get("referer")
    if not source:
        return True
    return urlsplit(source).netloc == host


async def _form(receive: Receive, send: Send) -> dict[str, list[str]] | None:
    """The request's url-encoded form, or None after answering 413 for a large one."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_LOGIN_BODY:
            await _json(send, 413, {"detail": "login form too large"})
            return None
        if not message.get("more_body"):
            return parse_qs(body.decode("utf-8", errors="replace"))


async def _redirect(send: Send, location: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    location_header = (b"location", location.encode("latin-1", errors="replace"))
    await _respond(send, 303, b"", (location_header, *headers))


async def _html(send: Send, status: int, page: str) -> None:
    headers = (
        (b"content-type", b"text/html; charset=utf-8"),
        (b"x-frame-options", b"DENY"),
        (b"cache-control", b"no-store"),
    )
    await _respond(send, status, page.encode(), headers)


async def _respond(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]]
) -> None:
    """One complete HTTP answer: ``headers`` and a content length, then ``body``."""
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [length, *headers]})
    await send({"type": "http.response.body", "body": body})


def _same(presented: str, secret: bytes) -> bool:
    return hmac.compare_digest(presented.encode("utf-8", errors="replace"), secret)


def _printable(text: str, limit: int = 200) -> str:
    """``text`` for a log line: no control characters (no forged lines), at most ``limit``."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


async def _json(
    send: Send, status: int, content: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    content_type = (b"content-type", b"application/json")
    await _respond(send, status, json.dumps(content).encode(), (content_type, *headers))
