"""A shared bearer token in front of an ASGI app (the labeling server), with the login flow
MONAI Label's stock clients use.

Every request must carry ``Authorization: Bearer TOKEN``, except the three login endpoints the
3D Slicer MONAILabel plugin and :class:`monailabel.client.MONAILabelClient` call first:
``GET /auth/`` (is auth on?), ``POST /auth/token`` (a form with any user name and the token as
password; answers the token) and ``GET /auth/token/valid``. Tokens are compared in constant
time and never logged.

>>> app = TokenAuth(app, read_token(token_file=None))  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from msklabel.errors import InputError

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


class TokenAuth:
    """ASGI middleware: ``app`` answers only requests that present ``token``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    def _matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self._token)

    def _bearer(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and self._matches(credential.strip())
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            # Lifespan events, and CORS preflights (browsers send them without credentials).
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "").rstrip("/")
        if scope["type"] == "http" and path == "/auth":
            await _json(send, 200, {"enabled": True, "client_id": None, "realm": None})
        elif scope["type"] == "http" and path == "/auth/token" and scope["method"] == "POST":
            await self._login(receive, send)
        elif self._bearer(scope):
            if path == "/auth/token/valid":
                await _json(send, 200, {})
            else:
                await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            logger.warning("refused %s %s: no valid token", scope["method"], scope["path"])
            await _json(
                send,
                401,
                {"detail": "a bearer token is required (Authorization: Bearer TOKEN)"},
                [(b"www-authenticate", b"Bearer")],
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
        password = (form.get("password") or [""])[0]
        if not self._matches(password):
            logger.warning("refused a login: wrong token")
            await _json(send, 401, {"detail": "wrong token"}, [(b"www-authenticate", b"Bearer")])
            return
        await _json(send, 200, {"access_token": self._token.decode(), "token_type": "bearer"})


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
