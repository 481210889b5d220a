"""Object ids and timestamps, the way the OpenAI API spells them."""

from __future__ import annotations

import secrets
import string
import time

_ALPHABET = string.ascii_letters + string.digits
ID_RANDOM_CHARS = 24
"""24 base62 characters ≈ 143 bits: ids are unguessable, so knowing one id reveals no other."""


def new_id(prefix: str) -> str:
    """`asst_`, `thread_`, `msg_`, `run_`, `step_` + random base62 (`secrets`, not `random`)."""
    # One urandom call, then base62 digits of a 192-bit number (a little over 143 bits are used).
    number = int.from_bytes(secrets.token_bytes(24))
    chars = []
    for _ in range(ID_RANDOM_CHARS):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return prefix + "".join(chars)


def now() -> int:
    """Integer Unix seconds: every `*_at` field of the API."""
    return int(time.time())
