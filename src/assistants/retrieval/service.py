"""The embedding model as an async service: loaded on first use, every call on one worker thread.

One thread, so embedding never takes more than one core from decoding, and calls queue in order. The
model loads lazily (≈ 0.3 s for MiniLM): a server that never embeds never pays for it, and a
`--no-model` server still serves files, vector stores and /v1/embeddings.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from assistants.retrieval.embedder import Embedder, load_embedder

T = TypeVar("T")


class EmbeddingService:
    def __init__(self, model: Path | None, loader: Callable[[Path | None], Embedder] = load_embedder) -> None:
        self._model = model
        self._loader = loader
        self._embedder: Embedder | None = None
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding")

    def embedder(self) -> Embedder:
        """The loaded model (loads it on the calling thread if needed; call from the worker thread)."""
        with self._load_lock:
            if self._embedder is None:
                self._embedder = self._loader(self._model)
            return self._embedder

    async def call(self, work: Callable[[Embedder], T]) -> T:
        """Run `work(embedder)` on the embedding thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self.embedder()))

    async def model_id(self) -> str:
        return await self.call(lambda embedder: embedder.model_id)

    async def embed_texts(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """Vectors and token counts of `texts`, batched in one hop to the thread."""
        def work(embedder: Embedder) -> tuple[np.ndarray, list[int]]:
            tokens = embedder.tokenize(texts)
            return embedder.embed_tokens(tokens), [len(ids) for ids in tokens]

        return await self.call(work)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
