from __future__ import annotations

import re
import time

from assistants.store.ids import ID_RANDOM_CHARS, new_id, now


def test_ids_have_the_prefix_and_enough_random_base62() -> None:
    for prefix in ("asst_", "thread_", "msg_", "run_", "step_"):
        object_id = new_id(prefix)
        assert re.fullmatch(re.escape(prefix) + f"[A-Za-z0-9]{{{ID_RANDOM_CHARS}}}", object_id)
        assert len(object_id.removeprefix(prefix)) >= 24  # >= 142 random bits: unguessable


def test_ids_do_not_repeat() -> None:
    assert len({new_id("msg_") for _ in range(10_000)}) == 10_000


def test_timestamps_are_integer_seconds() -> None:
    stamp = now()
    assert isinstance(stamp, int)
    assert abs(stamp - time.time()) < 5
