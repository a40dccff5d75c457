"""The stock MONAI Label web app behind msklabel's token check; ``msklabel serve`` runs it.

``monailabel start_server --uvicorn_app msk_asgi:app`` (with this folder on ``PYTHONPATH``)
serves exactly ``monailabel.app:app``, wrapped in :class:`msklabel.security.auth.TokenAuth`
when ``$MSKLABEL_TOKEN`` holds a token. The variable is removed once read, so the jobs the
server starts do not inherit it.
"""

from __future__ import annotations

import os

from monailabel.app import app as stock_app

from msklabel.security.auth import TOKEN_ENV, TokenAuth, read_token

_token = read_token()
os.environ.pop(TOKEN_ENV, None)
app = TokenAuth(stock_app, _token) if _token else stock_app
