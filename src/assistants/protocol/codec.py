"""JSON decoding of request bodies into wire types, with errors in the API's own terms.

Decoders are built once per type and cached. A msgspec error names the offending path
(`$.tools[0].function.name`); it becomes the error's `param` (`tools[0].function.name`).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from assistants.errors import InvalidRequest

T = TypeVar("T")

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
encoder = msgspec.json.Encoder()
"""The one encoder for wire objects (responses, stored event payloads)."""

_PATH = re.compile(r"`\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")

NOT_JSON = ("We could not parse the JSON body of your request. The API expects a JSON object "
            "in the request body.")


def decode(type_: type[T], body: bytes) -> T:
    """Decode and validate one request body; raise InvalidRequest (400) on anything wrong."""
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        message = str(exc)
        raise InvalidRequest(_readable(message), param=param_from_error(message)) from None
    except msgspec.DecodeError:
        raise InvalidRequest(NOT_JSON) from None


def param_from_error(message: str) -> str | None:
    """`... - at `$.metadata[...]`` -> `metadata`; `... - at `key` in `$.metadata`` -> `metadata`."""
    paths = _PATH.findall(message)
    path = paths[-1].removesuffix("[...]") if paths else ""
    missing = _MISSING.search(message)
    if missing:  # "Object missing required field `name` - at `$.tools[0].function`"
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or None


def _readable(message: str) -> str:
    # "Expected `str` of length <= 64 - at `key` in `$.metadata`" -> "Invalid 'metadata': expected ..."
    detail, _, _ = message.partition(" - at ")
    param = param_from_error(message)
    detail = detail[:1].lower() + detail[1:]
    if _MISSING.search(message):
        return f"Missing required parameter: '{param}'."
    if "`key`" in message:
        detail += " (an object key)"
    return f"Invalid '{param}': {detail}." if param else f"Invalid request body: {detail}."
