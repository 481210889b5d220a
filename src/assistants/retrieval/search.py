"""Hybrid search: BM25 and vector candidates fused by reciprocal rank, scored in 0..1.

Each query contributes one ranked list per retriever (and per store searched). A chunk's fused score is
sum(1 / (RRF_K + rank)) over the lists it appears in, divided by the best score a chunk could get (first
in every list of one store), so 1.0 means "ranked first by every retriever for every query" and a chunk
only one retriever found scores at most 0.5 with two. Equal scores are ordered by chunk id (the order
chunks were indexed in): the same query over the same index always returns the same list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from assistants.retrieval.index import ChunkIndex

RRF_K = 60
"""The usual reciprocal-rank constant (Cormack et al. 2009): damps the weight of the very top ranks."""
MIN_CANDIDATES = 50
"""Candidates each retriever contributes before fusion (at least twice the results asked for)."""


class Mode(StrEnum):
    HYBRID = "hybrid"
    KEYWORD = "keyword"
    VECTOR = "vector"


@dataclass(frozen=True, slots=True)
class Hit:
    store_id: str
    file_id: str
    position: int
    text: str
    score: float


def search(index: ChunkIndex, store_files: Mapping[str, Sequence[str]], queries: Sequence[str],
           vectors: np.ndarray, limit: int, *, threshold: float = 0.0, mode: Mode = Mode.HYBRID) -> list[Hit]:
    """The best `limit` chunks of the given files (store id -> file ids) for the queries."""
    depth = max(MIN_CANDIDATES, 2 * limit)
    ranked: list[list[int]] = []
    for store_id, file_ids in store_files.items():
        if not file_ids:
            continue
        for query, vector in zip(queries, vectors, strict=True):
            if mode is not Mode.VECTOR:
                ranked.append(index.keyword(store_id, file_ids, query, depth))
            if mode is not Mode.KEYWORD:
                ranked.append(index.nearest(store_id, file_ids, vector, depth))
    retrievers = 1 if mode is not Mode.HYBRID else 2
    fused = fuse(ranked, best=retrievers * len(queries) / (RRF_K + 1))
    kept = [(chunk_id, score) for chunk_id, score in fused if score >= threshold][:limit]
    chunks = index.chunks([chunk_id for chunk_id, _ in kept])
    return [Hit(chunks[chunk_id].store_id, chunks[chunk_id].file_id, chunks[chunk_id].position,
                chunks[chunk_id].text, score) for chunk_id, score in kept if chunk_id in chunks]


def fuse(ranked: Sequence[Sequence[int]], best: float) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: (chunk id, score / best), highest first, ties by chunk id."""
    scores: dict[int, float] = {}
    for items in ranked:
        for rank, chunk_id in enumerate(items, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [(chunk_id, min(1.0, round(score / best, 6))) for chunk_id, score in ordered] if best else []
