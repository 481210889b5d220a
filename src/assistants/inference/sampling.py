"""Sampling one token from a logits row with numpy.

Greedy is an argmax. Temperature / top-p work on the row directly and narrow the candidates before any
sort: llama.cpp's sampler chain builds a full 262k-entry candidate array per call, which costs more
than the rest of a batched step's Python side. A seeded sampler reproduces its draws exactly.
"""

from __future__ import annotations

import numpy as np

from assistants.inference.engine import SamplingParams

_FIRST_K = 64


class Sampler:
    def __init__(self, params: SamplingParams, n_vocab: int) -> None:
        self.greedy = params.greedy
        self.temperature = max(params.temperature, 1e-6)
        self.top_p = params.top_p
        self.n_vocab = n_vocab
        self.rng = np.random.default_rng(params.seed)

    def sample(self, logits: np.ndarray) -> int:
        if self.greedy:
            return int(np.argmax(logits))
        # Softmax weights over the whole row, shifted by the max so exp never overflows.
        weights = np.exp((logits - logits.max()) * (1.0 / self.temperature))
        total = float(weights.sum())
        if self.top_p >= 1.0:
            cumulative = np.cumsum(weights)
            index = int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))
            return min(index, self.n_vocab - 1)
        return self._nucleus(weights, total)

    def _nucleus(self, weights: np.ndarray, total: float) -> int:
        """Exact top-p: grow the top-k slice until it holds `top_p` of the mass, then draw from it."""
        k = _FIRST_K
        while True:
            k = min(k, self.n_vocab)
            top = np.argpartition(weights, -k)[-k:] if k < self.n_vocab else np.arange(self.n_vocab)
            top = top[np.argsort(-weights[top], kind="stable")]
            cumulative = np.cumsum(weights[top]) / total
            if cumulative[-1] >= self.top_p or k == self.n_vocab:
                keep = int(np.searchsorted(cumulative, self.top_p, side="left")) + 1
                kept = cumulative[:keep]
                index = int(np.searchsorted(kept, self.rng.random() * kept[-1], side="right"))
                return int(top[min(index, keep - 1)])
            k *= 8
