"""The playground: `GET /playground` (the page) and `/playground/{file}` (its script and stylesheet).

The files open without an API key: they hold no data, and the page asks for the key itself and sends it
only on its own API calls (same origin, so no CORS is involved). They are read from the package once
and served from memory with an ETag and `Cache-Control: no-cache`, so the browser revalidates (a 304)
and an upgraded server never runs a stale script. The Content-Security-Policy allows only this
origin's script, style and fetches, no inline script: a second wall behind the page's rule of
rendering everything as text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from assistants import security
from assistants.errors import not_found

PAGE = "index.html"
MEDIA_TYPES = {
    "index.html": "text/html",
    "playground.js": "text/javascript",
    "playground.css": "text/css",
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _load() -> dict[str, Asset]:
    folder = resources.files("assistants.playground") / "static"
    assets = {}
    for name, media_type in MEDIA_TYPES.items():
        body = (folder / name).read_bytes()
        assets[name] = Asset(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return assets


ASSETS = _load()


def _serve(asset: Asset, request: Request[Any, Any, Any]) -> Response[bytes]:
    headers = {**HEADERS, "ETag": asset.etag}
    if asset.media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CSP
    if asset.etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@get("/", include_in_schema=False, opt=security.PUBLIC, sync_to_thread=False)
def root() -> Redirect:
    return Redirect("/playground", status_code=302)


@get("/playground", include_in_schema=False, opt=security.PUBLIC, sync_to_thread=False)
def playground_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    return _serve(ASSETS[PAGE], request)


@get("/playground/{name:str}", include_in_schema=False, opt=security.PUBLIC, sync_to_thread=False)
def playground_file(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    asset = ASSETS.get(name)
    if asset is None:
        raise not_found("file", name)
    return _serve(asset, request)


ROUTES = [root, playground_page, playground_file]
