"""The chunk index behind one small interface: keyword (BM25) and vector (cosine) candidates.

`sqlite_index.SqliteChunkIndex` is the embedded default (FTS5 + sqlite-vec). A PostgreSQL index maps
the same calls onto `tsvector` and `pgvector`. Fusion and scoring live in `search.py`, above this, so
every backend ranks the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class StoredChunk:
    chunk_id: int
    """Stable within the index; ties between equal scores are broken by it (insertion order)."""
    store_id: str
    file_id: str
    position: int
    text: str


class ChunkIndex(Protocol):
    model_id: str
    dimensions: int
    rebuilt: bool
    """True when opening found chunks of another embedding model and dropped them: re-ingest everything."""

    def replace_file(self, store_id: str, file_id: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Make `texts` (with their vectors) the file's chunks in the store, in one transaction."""
        ...

    def remove_file(self, store_id: str, file_id: str) -> None: ...

    def remove_store(self, store_id: str) -> None: ...

    def file_keys(self) -> set[tuple[str, str]]:
        """Every (store id, file id) that has chunks (to sweep what the database no longer knows)."""
        ...

    def keyword(self, store_id: str, file_ids: Sequence[str], query: str, limit: int) -> list[int]:
        """Chunk ids matching any of the query's words, best BM25 first."""
        ...

    def nearest(self, store_id: str, file_ids: Sequence[str], vector: np.ndarray, limit: int) -> list[int]:
        """Chunk ids by cosine distance to `vector`, nearest first."""
        ...

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, StoredChunk]: ...

    def close(self) -> None: ...
