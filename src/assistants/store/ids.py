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
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(ID_RANDOM_CHARS))


def now() -> int:
    """Integer Unix seconds: every `*_at` field of the API."""
    return int(time.time())
