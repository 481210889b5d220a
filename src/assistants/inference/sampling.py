"""Sampling one token from a logits row with numpy.

Greedy is an argmax; top-k sorts only its k candidates; min-p keeps the tokens at least `min_p` times
as likely as the most likely one (one pass over the row, then the few candidates alone). Otherwise
temperature / top-p work on the row directly and narrow the candidates before any sort: llama.cpp's
sampler chain builds a full 262k-entry candidate array per call, which costs more than the rest of a
batched step's Python side. A seeded
sampler reproduces its draws exactly. `logit_bias` is added to a copy of the row first, for greedy
and sampled draws alike.
"""

from __future__ import annotations

import math

import numpy as np

from assistants.inference.engine import SamplingParams

_FIRST_K = 64


class Sampler:
    def __init__(self, params: SamplingParams, n_vocab: int) -> None:
        self.greedy = params.greedy
        self.temperature = max(params.temperature, 1e-6)
        self.top_p = params.top_p
        self.top_k = params.top_k if 0 < params.top_k < n_vocab else 0
        self._log_min_p = math.log(params.min_p) if params.min_p and 0.0 < params.min_p <= 1.0 else None
        self.rng = np.random.default_rng(params.seed)
        self._weights = None if self.greedy else np.empty(n_vocab, dtype=np.float32)
        self._cumulative = None if self.greedy else np.empty(n_vocab, dtype=np.float64)
        bias = dict(params.logit_bias)
        self._bias_ids = np.fromiter(bias, dtype=np.intp, count=len(bias))
        self._bias_values = np.fromiter(bias.values(), dtype=np.float32, count=len(bias))
        self._biased = np.empty(n_vocab, dtype=np.float32) if bias else None

    def sample(self, logits: np.ndarray) -> int:
        return self.draw(self.bias(logits))

    def bias(self, logits: np.ndarray) -> np.ndarray:
        """The row with `logit_bias` added (the row itself when there is none). The engine's row is
        left as it is: the sum goes to a buffer reused across steps."""
        if self._biased is None:
            return logits
        np.copyto(self._biased, logits)
        self._biased[self._bias_ids] += self._bias_values
        return self._biased

    def draw(self, logits: np.ndarray) -> int:
        """One token from an already biased row."""
        if self.greedy:
            return int(np.argmax(logits))
        if self._log_min_p is not None:
            # Before temperature, as llama.cpp's min_p: p_i >= min_p * p_max, in logits.
            top = np.flatnonzero(logits >= logits.max() + self._log_min_p)
            return self._among(top, logits)
        if self.top_k:
            return self._among(np.argpartition(logits, -self.top_k)[-self.top_k:], logits)
        weights, cumulative = self._weights, self._cumulative
        assert weights is not None and cumulative is not None
        # Softmax numerators over the whole row, shifted by the max so exp never overflows; buffers are
        # reused because allocating 1 MiB per sequence per step shows up in the step time.
        np.subtract(logits, logits.max(), out=weights)
        np.multiply(weights, 1.0 / self.temperature, out=weights)
        np.exp(weights, out=weights)
        if self.top_p < 1.0:
            return self._nucleus(weights)
        np.cumsum(weights, out=cumulative)
        index = int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))
        return min(index, len(weights) - 1)

    def _among(self, top: np.ndarray, logits: np.ndarray) -> int:
        """Temperature (and top-p) over the candidate tokens `top` only (the k most likely of them
        with top-k)."""
        top = top[np.argsort(-logits[top], kind="stable")]
        if 0 < self.top_k < len(top):
            top = top[:self.top_k]
        weights = np.exp((logits[top] - logits[top[0]]) / self.temperature, dtype=np.float64)
        cumulative = np.cumsum(weights)
        cumulative /= cumulative[-1]
        keep = len(top)
        if self.top_p < 1.0:
            keep = int(np.searchsorted(cumulative, self.top_p, side="left")) + 1
        kept = cumulative[:keep]
        index = int(np.searchsorted(kept, self.rng.random() * kept[-1], side="right"))
        return int(top[min(index, keep - 1)])

    def _nucleus(self, weights: np.ndarray) -> int:
        """Exact top-p: grow a top-k slice until it holds `top_p` of the mass (no sort of the full row)."""
        total = float(weights.sum(dtype=np.float64))
        size = len(weights)
        k = _FIRST_K
        while True:
            k = min(k, size)
            top = np.argpartition(weights, -k)[-k:] if k < size else np.arange(size)
            top = top[np.argsort(-weights[top], kind="stable")]
            cumulative = np.cumsum(weights[top], dtype=np.float64) / total
            if cumulative[-1] >= self.top_p or k == size:
                keep = int(np.searchsorted(cumulative, self.top_p, side="left")) + 1
                kept = cumulative[:keep]
                index = int(np.searchsorted(kept, self.rng.random() * kept[-1], side="right"))
                return int(top[min(index, keep - 1)])
            k *= 8
