"""A scripted engine for batcher unit tests: each prompt token is 'generated' back, one per step."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from assistants.inference.engine import EngineLimits, ModelInfo, SamplingParams, StepRecord

EOG = 1
FILLER = 10
VOCAB = {10: b"a", 11: b"b", 12: b"\xe2\x82", 13: b"\xac", 14: b"<", 15: b"st", 16: b"op", 17: b">", 18: b"c"}


class FakeEngine:
    def __init__(self, max_sequences: int = 4, *, gated: bool = False) -> None:
        self.info = ModelInfo(
            path="fake",
            architecture="fake",
            chat_template=None,
            bos_token="<s>",
            eos_token="</s>",
            add_bos=False,
            n_ctx_train=1000,
        )
        self.limits = EngineLimits(max_sequences=max_sequences, n_ctx_seq=1000)
        self.scripts: dict[int, list[int]] = {}
        self.records: list[StepRecord] = []
        self.removed: list[int] = []
        self.fail_next_step: Exception | None = None
        self.fail_add: Exception | None = None
        self.pool_cells: int | None = None
        """When set, `admissible` admits by these cells as the GGUF engine does."""
        self.footprints: dict[int, int] = {}
        self.cached_tokens = 0
        """What add_sequence reports as reused from a cache."""
        self._gate = threading.Semaphore(0) if gated else None
        self._done = threading.Condition()
        self.in_step = threading.Event()

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        return [FILLER] * len(text)

    def token_bytes(self, token: int) -> bytes:
        return VOCAB[token]

    def is_end_of_generation(self, token: int) -> bool:
        return token == EOG

    def add_sequence(self, seq_id: int, prompt: Sequence[int], params: SamplingParams,
                     cache_key: str | None = None) -> int:
        if self.fail_add is not None:
            raise self.fail_add
        assert seq_id not in self.scripts, "seq id reused while live"
        assert 0 <= seq_id < self.limits.max_sequences
        self.scripts[seq_id] = list(prompt)
        self.footprints[seq_id] = len(prompt) + (params.max_tokens or 0)
        return self.cached_tokens

    def admissible(self, requests: Sequence[tuple[int, int]]) -> int:
        if self.pool_cells is None:
            return len(requests)
        # Like the GGUF engine: live prompts + answers must fit the pool; one alone always joins.
        room = self.pool_cells - sum(self.footprints.values())
        count = 0
        for prompt_tokens, max_tokens in requests:
            if prompt_tokens + max_tokens > room and (count or self.scripts):
                break
            room -= prompt_tokens + max_tokens
            count += 1
        return count

    def forget_cache(self, key: str) -> None:
        pass

    def remove_sequence(self, seq_id: int) -> None:
        del self.scripts[seq_id]
        self.footprints.pop(seq_id, None)
        self.removed.append(seq_id)

    def step(self) -> list[tuple[int, int]]:
        if self._gate is not None:
            self.in_step.set()
            self._gate.acquire()
            self.in_step.clear()
        try:
            if self.fail_next_step is not None:
                error, self.fail_next_step = self.fail_next_step, None
                raise error
            sampled = [(seq, script.pop(0) if script else FILLER) for seq, script in self.scripts.items()]
            ids = tuple(seq for seq, _ in sampled)
            self.records.append(StepRecord(step=len(self.records) + 1, decoded=ids, ingested=(), sampled=ids))
            return sampled
        finally:
            with self._done:
                self._done.notify_all()

    def advance(self, steps: int = 1, *, more: bool = True) -> None:
        """Let `steps` more steps run and wait until they have (call via asyncio.to_thread)."""
        assert self._gate is not None
        target = len(self.records) + steps
        for _ in range(steps):
            self._gate.release()
        with self._done:
            self._done.wait_for(lambda: len(self.records) >= target, timeout=10)
        if more:  # the thread finished handling the step and waits inside the next one
            self.in_step.wait(10)

    @property
    def live_sequences(self) -> int:
        return len(self.scripts)

    def step_records(self) -> list[StepRecord]:
        return list(self.records)

    def close(self) -> None:
        if self._gate is not None:
            for _ in range(100):
                self._gate.release()
