"""The MLX engine's prompt admission: bounded prompt work per step, arrival order, short prompts batched."""

from __future__ import annotations

from assistants.inference.mlx.admission import admissible, prefill_cost

CHUNK = 128


def test_cost_is_chunks_padded_to_the_longest_plus_last_tokens() -> None:
    assert prefill_cost([], CHUNK) == 0
    assert prefill_cost([500], CHUNK) == 128
    assert prefill_cost([10, 30], CHUNK) == 2 * 30
    assert prefill_cost([10, 0, 0], CHUNK) == 10 + 2  # two prompts feed only their last token


def test_a_prompt_alone_always_joins() -> None:
    assert admissible([], [5000], CHUNK) == 1
    assert admissible([], [0], CHUNK) == 1


def test_a_burst_of_short_prompts_joins_in_one_step() -> None:
    assert admissible([], [10] * 8, CHUNK) == 8
    assert admissible([], [20] * 8, CHUNK) == 6  # 7 x 20 = 140 would exceed one chunk


def test_long_prompts_are_prefilled_one_at_a_time_in_arrival_order() -> None:
    assert admissible([], [600, 600], CHUNK) == 1
    assert admissible([472], [600], CHUNK) == 0
    assert admissible([472], [3], CHUNK) == 0  # padded to the long chunk: 256
    assert admissible([0], [600], CHUNK) == 0  # 128 + the other's last token would exceed
    assert admissible([600], [], CHUNK) == 0
