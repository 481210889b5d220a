"""`check_fits`: how many tokens a request may decode, and the 400 when it cannot fit."""

from __future__ import annotations

import pytest

from assistants.inference.service import ContextLengthExceeded, check_fits
from assistants.serving.sampling import to_sampling_params


def fits(prompt_tokens: int, max_tokens: int | None, default_max: int = 0) -> int:
    params = to_sampling_params(None, None, max_tokens=max_tokens)
    return check_fits(1024, prompt_tokens, params, 0, default_max=default_max)


def test_no_limit_is_the_room_left_in_the_context() -> None:
    assert fits(24, None) == 1000


def test_no_limit_is_capped_by_the_default_max() -> None:
    assert fits(24, None, default_max=64) == 64
    assert fits(1000, None, default_max=64) == 24  # the room is smaller than the cap


def test_a_requested_limit_is_bounded_by_the_context_only() -> None:
    assert fits(24, 500, default_max=64) == 500
    with pytest.raises(ContextLengthExceeded):
        fits(24, 1001, default_max=64)
