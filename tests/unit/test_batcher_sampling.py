"""The numpy sampler: greedy, seeded reproducibility, temperature and exact top-p support."""

from __future__ import annotations

import numpy as np

from assistants.inference.engine import SamplingParams
from assistants.inference.sampling import Sampler

PROBS = np.array([0.5, 0.3, 0.15, 0.05])
LOGITS = np.log(PROBS).astype(np.float32)


def draws(params: SamplingParams, n: int = 20_000) -> np.ndarray:
    sampler = Sampler(params, len(LOGITS))
    return np.bincount([sampler.sample(LOGITS) for _ in range(n)], minlength=len(LOGITS)) / n


def test_greedy_is_argmax() -> None:
    assert Sampler(SamplingParams(temperature=0.0), 4).sample(LOGITS) == 0


def test_temperature_one_follows_the_softmax() -> None:
    assert np.allclose(draws(SamplingParams(temperature=1.0, seed=3)), PROBS, atol=0.015)


def test_low_temperature_sharpens() -> None:
    assert draws(SamplingParams(temperature=0.2, seed=3))[0] > 0.9


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    frequencies = draws(SamplingParams(temperature=1.0, top_p=0.8, seed=3))
    assert frequencies[2] == 0 and frequencies[3] == 0
    assert np.allclose(frequencies[:2], [0.625, 0.375], atol=0.015)


def test_top_p_grows_past_the_first_slice_on_a_large_flat_vocabulary() -> None:
    logits = np.zeros(10_000, dtype=np.float32)
    sampler = Sampler(SamplingParams(temperature=1.0, top_p=0.5, seed=1), len(logits))
    assert len({sampler.sample(logits) for _ in range(2_000)}) > 1_000


def test_same_seed_same_draws() -> None:
    logits = np.random.default_rng(0).standard_normal(5_000).astype(np.float32) * 4
    params = SamplingParams(temperature=0.9, top_p=0.95, seed=42)
    first, second = Sampler(params, 5_000), Sampler(params, 5_000)
    assert [first.sample(logits) for _ in range(50)] == [second.sample(logits) for _ in range(50)]


def test_top_k_samples_only_the_k_best_renormalised() -> None:
    frequencies = draws(SamplingParams(temperature=1.0, top_k=2, seed=3))
    assert frequencies[2] == 0 and frequencies[3] == 0
    assert np.allclose(frequencies[:2], [0.625, 0.375], atol=0.015)


def test_top_k_and_top_p_together_cut_at_the_tighter() -> None:
    frequencies = draws(SamplingParams(temperature=1.0, top_k=3, top_p=0.6, seed=3))
    assert frequencies[2] == 0 and frequencies[3] == 0 and frequencies[1] > 0


def test_logit_bias_bans_and_forces_greedy() -> None:
    assert Sampler(SamplingParams(temperature=0.0, logit_bias=((0, -100.0),)), 4).sample(LOGITS) == 1
    assert Sampler(SamplingParams(temperature=0.0, logit_bias=((3, 100.0),)), 4).sample(LOGITS) == 3
    # A small bias only shifts: token 1 overtakes token 0 (log 0.5 - log 0.3 = 0.51).
    assert Sampler(SamplingParams(temperature=0.0, logit_bias=((1, 0.6),)), 4).sample(LOGITS) == 1


def test_logit_bias_bans_and_forces_seeded_draws_at_any_temperature() -> None:
    banned = draws(SamplingParams(temperature=2.0, seed=3, logit_bias=((0, -100.0), (2, -100.0))), n=5_000)
    assert banned[0] == 0 and banned[2] == 0
    assert np.allclose(banned[[1, 3]], [0.71, 0.29], atol=0.03)  # the rest keep their relative odds
    forced = draws(SamplingParams(temperature=2.0, top_p=0.9, seed=3, logit_bias=((3, 100.0),)), n=2_000)
    assert forced[3] == 1.0


def test_logit_bias_leaves_the_engine_row_alone_and_keeps_seeded_draws_reproducible() -> None:
    logits = np.random.default_rng(0).standard_normal(5_000).astype(np.float32) * 4
    before = logits.copy()
    params = SamplingParams(temperature=0.9, seed=42, logit_bias=((int(np.argmax(logits)), -100.0),))
    first, second = Sampler(params, 5_000), Sampler(params, 5_000)
    drawn = [first.sample(logits) for _ in range(50)]
    assert drawn == [second.sample(logits) for _ in range(50)]
    assert int(np.argmax(logits)) not in drawn
    assert np.array_equal(logits, before)  # the bias went to the sampler's buffer, not to the row


def test_min_p_keeps_the_tokens_at_least_that_likely_relative_to_the_top() -> None:
    frequencies = draws(SamplingParams(temperature=1.0, min_p=0.4, seed=3))  # 0.4 x 0.5: keeps 0.5, 0.3
    assert frequencies[2] == 0 and frequencies[3] == 0
    assert np.allclose(frequencies[:2], [0.625, 0.375], atol=0.015)


def test_min_p_cuts_before_temperature_as_llama_cpp() -> None:
    frequencies = draws(SamplingParams(temperature=2.0, min_p=0.4, seed=3))
    tempered = np.sqrt(PROBS[:2]) / np.sqrt(PROBS[:2]).sum()  # the two kept, at temperature 2
    assert frequencies[2] == 0 and frequencies[3] == 0
    assert np.allclose(frequencies[:2], tempered, atol=0.015)


def test_min_p_composes_with_top_k() -> None:
    frequencies = draws(SamplingParams(temperature=1.0, min_p=0.01, top_k=2, seed=3))
    assert np.allclose(frequencies, [0.625, 0.375, 0, 0], atol=0.015)


def test_the_servers_min_p_fills_only_a_request_that_names_none() -> None:
    from assistants.inference.service import with_min_p

    assert with_min_p(SamplingParams(), 0.05).min_p == 0.05
    assert with_min_p(SamplingParams(min_p=0.0), 0.05).min_p == 0.0
