"""The stock MONAI Label web app behind msklabel's authentication; ``msklabel serve`` runs it.

``monailabel start_server --uvicorn_app msk_asgi:app`` (with this folder on ``PYTHONPATH``)
serves exactly ``monailabel.app:app``, wrapped in :class:`msklabel.security.auth.TokenAuth`
when ``$MSKLABEL_TOKEN`` holds a shared token or ``$MSKLABEL_USERS_FILE`` names a users file
(roles annotator and admin). The variables are removed once read, so the jobs the server
starts do not inherit them.
"""

from __future__ import annotations

import os

from monailabel.app import app as stock_app

from msklabel.security.auth import TOKEN_ENV, TokenAuth, read_token
from msklabel.security.users import USERS_ENV, read_users

_token = read_token()
_users_file = os.environ.get(USERS_ENV)
_users = read_users(_users_file) if _users_file else None
os.environ.pop(TOKEN_ENV, None)
os.environ.pop(USERS_ENV, None)
app = TokenAuth(stock_app, _token, _users) if _token or _users else stock_app
