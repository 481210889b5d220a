"""JSON decoding of request bodies into wire types, with errors in the API's own terms.

Decoders are built once per type and cached. A msgspec error names the offending path
(`$.tools[0].function.name`); it becomes the error's `param` (`tools[0].function.name`).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from assistants.errors import InvalidRequest, invalid_request_from_validation

T = TypeVar("T")

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
encoder = msgspec.json.Encoder()
"""The one JSON encoder: wire objects, stream chunks, JSON columns and stored event payloads."""

NOT_JSON = ("We could not parse the JSON body of your request. The API expects a JSON object "
            "in the request body.")


def decode(type_: type[T], body: bytes) -> T:
    """Decode and validate one request body; raise InvalidRequest (400) on anything wrong."""
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise invalid_request_from_validation(str(exc)) from None
    except msgspec.DecodeError:
        raise InvalidRequest(NOT_JSON) from None
