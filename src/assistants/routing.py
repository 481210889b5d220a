"""Route-table facts litestar gets wrong, corrected once at start-up.

litestar's automatic OPTIONS handler answers `Allow` from the route object it was first created
for: when a second handler joins the same path (a controller's GET beside its POST), the merged
route keeps the old handler and `Allow` misses the newcomer. The header is rewritten from the final
route table instead.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope


def install_allow_header_fix(app: Litestar) -> None:
    allowed = {route.path_format: ", ".join(sorted(route.methods))
               for route in app.routes if isinstance(route, HTTPRoute)}

    async def correct_allow(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
            return
        methods = allowed.get(scope.get("path_template", ""))
        headers = MutableScopeHeaders.from_message(message)
        if methods and "allow" in headers:
            headers["allow"] = methods

    app.before_send.append(correct_allow)
