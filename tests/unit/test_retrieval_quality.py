"""On the labelled set (tests/retrieval_set.py), with the bundled embedding model: hybrid search finds
at least as many answers in its top 5 as keyword-only and as vector-only search."""

from __future__ import annotations

from pathlib import Path

from assistants.retrieval.embedder import load_embedder
from assistants.retrieval.search import Mode, search
from assistants.retrieval.sqlite_index import SqliteChunkIndex
from tests.retrieval_set import DISTRACTORS, FACTS, QUERIES


def recall_at(index: SqliteChunkIndex, embedder, mode: Mode, k: int) -> float:  # type: ignore[no-untyped-def]
    files = list(FACTS) + [f"distractor-{n}" for n in range(len(DISTRACTORS))]
    vectors = embedder.embed_tokens(embedder.tokenize([query for query, _ in QUERIES]))
    found = 0
    for (query, answer), vector in zip(QUERIES, vectors, strict=True):
        hits = search(index, {"vs": files}, [query], vector[None, :], k, mode=mode)
        found += any(hit.file_id == answer for hit in hits)
    return found / len(QUERIES)


def build_index(path: Path):  # type: ignore[no-untyped-def]
    embedder = load_embedder(None)
    index = SqliteChunkIndex(path, embedder.model_id, embedder.dimensions)
    documents = {**FACTS, **{f"distractor-{n}": text for n, text in enumerate(DISTRACTORS)}}
    vectors = embedder.embed_tokens(embedder.tokenize(list(documents.values())))
    for (file_id, text), vector in zip(documents.items(), vectors, strict=True):
        index.replace_file("vs", file_id, [text], vector[None, :])
    return index, embedder


def test_hybrid_recall_at_5_is_at_least_each_retriever_alone(tmp_path: Path) -> None:
    index, embedder = build_index(tmp_path / "chunks.sqlite3")
    recall = {mode: recall_at(index, embedder, mode, 5) for mode in Mode}
    assert recall[Mode.HYBRID] >= recall[Mode.KEYWORD]
    assert recall[Mode.HYBRID] >= recall[Mode.VECTOR]
    assert recall[Mode.HYBRID] >= 0.9, recall
    index.close()
