"""API-key auth and CORS: both off unless the operator configures them.

Auth is app-level middleware, so it covers every route (SSE streams and re-attach included) except
handlers marked `opt={"public": True}`: `/health` and the playground's static files (which hold no
data; the page sends the key on its API calls). The key comes as `Authorization: Bearer KEY` or, as
Anthropic's SDK sends it, `x-api-key: KEY` (Authorization wins when both are present). It runs after
routing but before body parsing and the handler, so a bad key gets 401 before any 400/404/413 could
reveal anything. Browser preflights (OPTIONS with Origin) are answered by the CORS layer before
routing and carry no credentials by design, so they never reach it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from assistants.errors import Unauthorized

PUBLIC = {"public": True}
"""`opt` for a handler that needs no key."""

_MISSING = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or in an x-api-key header.")
_WRONG = "Incorrect API key provided."  # never echo the key back: it may be a real secret for elsewhere


def _digest(key: bytes) -> bytes:
    # Comparing fixed-length digests hides even the key's length from a timing attacker.
    return hashlib.sha256(key).digest()


class ApiKeyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)
    exclude_opt_key = "public"

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(key.encode()) for key in keys)

    def is_valid(self, presented: bytes) -> bool:
        candidate = _digest(presented)
        valid = False
        for known in self._digests:  # no early exit: every key is compared every time
            valid |= hmac.compare_digest(candidate, known)
        return valid

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = dict(scope["headers"])
        header = headers.get(b"authorization")
        if header is None and b"x-api-key" in headers:
            # Anthropic's SDK sends its key as `x-api-key`; OpenAI's as a Bearer token.
            token = headers[b"x-api-key"].strip()
            if not token or not self.is_valid(token):
                raise Unauthorized(_WRONG)
            await next_app(scope, receive, send)
            return
        scheme, _, token = (header or b"").partition(b" ")
        if header is None or scheme.lower() != b"bearer" or not token.strip():
            raise Unauthorized(_MISSING, code=None) if header is None else Unauthorized(_WRONG)
        if not self.is_valid(token.strip()):
            raise Unauthorized(_WRONG)
        await next_app(scope, receive, send)


def cors_config(origins: tuple[str, ...]) -> CORSConfig | None:
    """None (no CORS headers at all) unless origins are configured; `*` only when given literally."""
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["*"],
        # The SDK sends Authorization, OpenAI-Beta and x-stainless-* headers; preflight echoes them.
        allow_headers=["*"],
        allow_credentials=False,  # bearer keys, not cookies
        expose_headers=["x-request-id", "x-should-retry"],
    )
