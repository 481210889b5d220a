"""Grammar-constrained sampling for the GGUF engine: one llama.cpp grammar sampler per sequence.

llama.cpp's grammar sampler decides which tokens may come next; asking it about the full 262k-token
vocabulary costs about a millisecond per sequence per step. Most steps do not need that, so a token is
chosen in up to three tries, cheapest first:

1. draw the token the unconstrained sampler would (argmax, or a seeded temperature / top-p draw) and
   ask the grammar about that one token. When it is allowed it is taken, so the common case costs
   one single-candidate check and leaves greedy output exactly what the grammar's best token is;
2. otherwise ask about the likely tokens: those within `window` logits of the best one (at most
   `top_k` of them, plus the end-of-generation tokens, which a finished grammar needs), and choose
   among the allowed ones: for greedy that is exactly the best allowed token; for sampling it
   restricts the draw to those candidates. (Found with one comparison over the row: an
   `argpartition` of 262k logits would cost more than the grammar check it saves.);
3. then about the `wide_k` most likely tokens (an argpartition of the row, a few milliseconds);
4. then about the single-character ASCII tokens: when the grammar forces a literal (a property name
   the model would have tokenized differently: `{ "s` + `tor` + `y`), the allowed pieces are odd
   fragments far down the model's list, but the one-character piece of the next letter is allowed;
5. only if none of those is allowed, ask about the whole vocabulary: for a JSON grammar that check
   costs ~100-250 ms on this CPU, so it is kept for the step where all of the above are refused.
The chosen token is then `accept`ed, advancing the grammar (llama.cpp aborts the process if it was
not allowed, so no path here can emit a token the grammar refuses). Sequences without a grammar never
come here: they keep the plain numpy sampler and pay nothing.

Control tokens (`<mask>`, `<unused0>`, ...) are never candidates: the grammar judges a token by its
special-token text, but the output shows such a token as nothing, so the grammar's view of the string
(`"<mask>"` fills a minLength) would differ from what the client gets.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence

import llama_cpp as L
import numpy as np

from assistants.inference.engine import EngineError, SamplingParams
from assistants.inference.sampling import Sampler

TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
assert TOKEN_DATA.itemsize == ctypes.sizeof(L.llama_token_data)


class _Candidates:
    """A reusable llama_token_data_array over a numpy buffer (no per-call ctypes allocation)."""

    def __init__(self, capacity: int) -> None:
        self.buffer = np.zeros(capacity, dtype=TOKEN_DATA)
        self.array = L.llama_token_data_array(
            data=self.buffer.ctypes.data_as(L.llama_token_data_p), size=0, selected=-1, sorted=False)
        self.pointer = ctypes.pointer(self.array)

    def filter(self, grammar: L.llama_sampler_p, ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """The positions in `ids` the grammar allows next."""
        n = len(ids)
        view = self.buffer[:n]
        view["id"] = ids
        view["logit"] = logits
        self.array.size = n
        self.array.selected = -1
        self.array.sorted = False
        L.llama_sampler_apply(grammar, self.pointer)
        return np.flatnonzero(np.isfinite(view["logit"]))


def hidden_tokens(vocab: L.llama_vocab_p, n_vocab: int) -> np.ndarray:
    """Mask of the tokens the output shows as nothing but the grammar reads as text (control and
    unknown tokens; end-of-generation ones excepted, the grammar handles those): computed once."""
    special = L.LLAMA_TOKEN_ATTR_CONTROL | L.LLAMA_TOKEN_ATTR_UNKNOWN
    return np.array([bool(L.llama_vocab_get_attr(vocab, token) & special)
                     and not L.llama_vocab_is_eog(vocab, token) for token in range(n_vocab)], dtype=bool)


def single_char_tokens(tokenize: Callable[[str], list[int]]) -> list[int]:
    """Token ids whose piece is one printable ASCII character (or tab / newline), found by
    tokenizing each character: computed once per engine."""
    found = []
    for code in [9, 10, *range(32, 127)]:
        tokens = tokenize(chr(code))
        if len(tokens) == 1:
            found.append(tokens[0])
    return found


class GrammarSampler:
    """Samples one sequence's tokens under a GBNF grammar (root rule `root`)."""

    def __init__(self, vocab: L.llama_vocab_p, params: SamplingParams, n_vocab: int,
                 end_tokens: Sequence[int], top_k: int = 64, window: float = 12.0,
                 wide_k: int = 4096, single_chars: Sequence[int] = (),
                 hidden: np.ndarray | None = None) -> None:
        assert params.grammar is not None
        self._grammar = L.llama_sampler_init_grammar(vocab, params.grammar.encode("utf-8"), b"root")
        if not self._grammar:
            raise EngineError("the grammar could not be parsed")
        self.plain = Sampler(params, n_vocab)
        self.n_vocab = n_vocab
        self.top_k = top_k
        self.window = window
        self.wide_k = min(wide_k, n_vocab)
        self.end_tokens = np.array(sorted(set(end_tokens)), dtype=np.int32)
        self.hidden = np.zeros(n_vocab, dtype=bool) if hidden is None else hidden
        chars = np.array(sorted(set(single_chars) | set(end_tokens)), dtype=np.int32)
        self.single_chars = self._visible(chars)
        self._small = _Candidates(max(top_k, self.wide_k, len(self.single_chars)) + len(self.end_tokens) + 1)
        self._full: _Candidates | None = None  # 3 MB: only built when a sequence first needs it
        self.full_scans = 0
        """How often step 3 ran (benchmarks read it)."""

    def sample(self, logits: np.ndarray) -> int:
        logits = self.plain.bias(logits)  # every candidate below is judged on the biased row
        token = self.plain.draw(logits)
        one = np.array([token], dtype=np.int32)
        if not self.hidden[token] and len(self._small.filter(self._grammar, one, logits[one])):
            return self._accept(token)
        best = logits[token] if self.plain.greedy else logits.max()  # greedy drew the argmax already
        top = np.flatnonzero(logits >= best - self.window)
        if len(top) > self.top_k:
            top = top[np.argpartition(logits[top], -self.top_k)[-self.top_k:]]
        ids = self._visible(np.union1d(top, self.end_tokens).astype(np.int32))
        allowed = self._small.filter(self._grammar, ids, logits[ids])
        if not len(allowed):
            top = np.argpartition(logits, -self.wide_k)[-self.wide_k:]
            ids = self._visible(np.union1d(top, self.end_tokens).astype(np.int32))
            allowed = self._small.filter(self._grammar, ids, logits[ids])
        if not len(allowed):
            ids = self.single_chars
            allowed = self._small.filter(self._grammar, ids, logits[ids])
        if not len(allowed):
            self.full_scans += 1
            if self._full is None:
                self._full = _Candidates(self.n_vocab)
                self._all_ids = np.flatnonzero(~self.hidden).astype(np.int32)
            ids = self._all_ids
            allowed = self._full.filter(self._grammar, ids, logits[ids])
            if not len(allowed):
                raise EngineError("the grammar allows no token here")
        ids = ids[allowed]
        return self._accept(self._choose(ids, logits[ids]))

    def _visible(self, ids: np.ndarray) -> np.ndarray:
        return ids[~self.hidden[ids]]

    def _choose(self, ids: np.ndarray, logits: np.ndarray) -> int:
        plain = self.plain
        if plain.greedy or len(ids) == 1:
            return int(ids[int(np.argmax(logits))])
        order = np.argsort(-logits, kind="stable")
        if plain.top_k:
            order = order[:plain.top_k]
        weights = np.exp((logits[order] - logits[order[0]]) / plain.temperature)
        cumulative = np.cumsum(weights / weights.sum())
        keep = len(order)
        if plain.top_p < 1.0:
            keep = int(np.searchsorted(cumulative, plain.top_p, side="left")) + 1
        kept = cumulative[:keep]
        index = int(np.searchsorted(kept, plain.rng.random() * kept[-1], side="right"))
        return int(ids[order[min(index, keep - 1)]])

    def _accept(self, token: int) -> int:
        L.llama_sampler_accept(self._grammar, token)
        return token

    def close(self) -> None:
        if self._grammar:
            L.llama_sampler_free(self._grammar)
            self._grammar = None
