"""Retrieval as an async service: the embedding model and the chunk index, each on its own thread.

One embedding thread, so embedding never takes more than one core from decoding and calls queue in
order; one index thread, which owns the index connection, so a search never waits behind an embedding
batch except for its own query's. Both load lazily (MiniLM ≈ 0.3 s): a server that never embeds never
pays for it, and a `--no-model` server still serves files, vector stores and /v1/embeddings.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from assistants.retrieval.embedder import Embedder, load_embedder
from assistants.retrieval.index import ChunkIndex
from assistants.retrieval.search import Hit, Mode, search

T = TypeVar("T")


def _sqlite_index(path: Path, embedder: Embedder) -> ChunkIndex:
    from assistants.retrieval.sqlite_index import SqliteChunkIndex

    return SqliteChunkIndex(path, embedder.model_id, embedder.dimensions)


class Retrieval:
    def __init__(self, embedding_model: Path | None, index_path: Path,
                 loader: Callable[[Path | None], Embedder] = load_embedder,
                 index_factory: Callable[[Path, Embedder], ChunkIndex] = _sqlite_index) -> None:
        self._model = embedding_model
        self._index_path = index_path
        self._loader = loader
        self._index_factory = index_factory
        self._embedder: Embedder | None = None
        self._index: ChunkIndex | None = None
        self._load_lock = threading.Lock()
        self._embedding_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding")
        self._index_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-index")

    def embedder(self) -> Embedder:
        """The loaded model (loading it on the calling thread if needed)."""
        with self._load_lock:
            if self._embedder is None:
                self._embedder = self._loader(self._model)
            return self._embedder

    def index_exists(self) -> bool:
        return self._index is not None or self._index_path.exists()

    def index(self) -> ChunkIndex:
        """The open index; call on the index thread only."""
        if self._index is None:
            self._index = self._index_factory(self._index_path, self.embedder())
        return self._index

    async def call(self, work: Callable[[Embedder], T]) -> T:
        """`work(embedder)` on the embedding thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._embedding_thread, lambda: work(self.embedder()))

    async def index_call(self, work: Callable[[ChunkIndex], T]) -> T:
        """`work(index)` on the index thread."""
        return await asyncio.get_running_loop().run_in_executor(self._index_thread,
                                                                lambda: work(self.index()))

    async def embed_texts(self, texts: list[str]) -> np.ndarray:
        return await self.call(lambda embedder: embedder.embed_tokens(embedder.tokenize(texts)))

    async def search(self, store_files: Mapping[str, Sequence[str]], queries: Sequence[str], limit: int, *,
                     threshold: float = 0.0, mode: Mode = Mode.HYBRID) -> list[Hit]:
        vectors = await self.embed_texts(list(queries))
        return await self.index_call(lambda index: search(index, store_files, queries, vectors, limit,
                                                          threshold=threshold, mode=mode))

    async def forget_file(self, store_ids: Sequence[str], file_id: str) -> None:
        def work(index: ChunkIndex) -> None:
            for store_id in store_ids:
                index.remove_file(store_id, file_id)

        await self.index_call(work)

    async def forget_store(self, store_id: str) -> None:
        await self.index_call(lambda index: index.remove_store(store_id))

    def close(self) -> None:
        self._embedding_thread.shutdown(wait=True, cancel_futures=True)

        def close_index() -> None:
            if self._index is not None:
                self._index.close()

        self._index_thread.submit(close_index).result()
        self._index_thread.shutdown(wait=True)
