"""Retrieval figures, in one run, in process (no server): quality, embedding throughput, search latency.

    python benchmarks/retrieval.py [--chunks 10000] [--searches 200] [--embed-chunks 64]

1. Quality on the labelled set (tests/retrieval_set.py) with the bundled embedding model: recall@1,
   recall@5 and MRR of hybrid search against keyword-only (FTS5 BM25) and vector-only (sqlite-vec).
2. Ingestion throughput: `--embed-chunks` chunks of 16 and of 200 tokens embedded batched (one call, as
   ingestion does) and one at a time, in alternating rounds; chunks per second each, and the ratio.
3. Search latency with `--chunks` chunks in one store: p50/p95 of keyword-only, vector-only and hybrid
   index searches (the query already embedded), and of embedding one query. The filler chunks carry
   random unit vectors (embedding 10k real chunks would take minutes and does not change a brute-force
   kNN scan's cost); their text is generated from a fixed vocabulary, so BM25 has real postings to walk.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from tests.retrieval_set import DISTRACTORS, FACTS, QUERIES

from assistants.retrieval.embedder import load_embedder
from assistants.retrieval.search import Mode, search
from assistants.retrieval.sqlite_index import SqliteChunkIndex


def quality(directory: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    index = SqliteChunkIndex(directory / "quality.sqlite3", embedder.model_id, embedder.dimensions)
    documents = {**FACTS, **{f"distractor-{n}": text for n, text in enumerate(DISTRACTORS)}}
    vectors = embedder.embed_tokens(embedder.tokenize(list(documents.values())))
    for (file_id, text), vector in zip(documents.items(), vectors, strict=True):
        index.replace_file("vs", file_id, [text], vector[None, :])
    queries = embedder.embed_tokens(embedder.tokenize([query for query, _ in QUERIES]))
    print(f"quality: {len(QUERIES)} labelled queries over {len(documents)} chunks ({len(FACTS)} facts, "
          f"{len(DISTRACTORS)} distractors)")
    for mode in Mode:
        ranks = []
        for (query, answer), vector in zip(QUERIES, queries, strict=True):
            hits = [hit.file_id for hit in search(index, {"vs": list(documents)}, [query], vector[None, :],
                                                  20,
                                                  mode=mode)]
            ranks.append(hits.index(answer) + 1 if answer in hits else None)
        recall1 = sum(rank == 1 for rank in ranks) / len(ranks)
        recall5 = sum(rank is not None and rank <= 5 for rank in ranks) / len(ranks)
        mrr = sum(1 / rank for rank in ranks if rank) / len(ranks)
        print(f"  {mode.value:8} recall@1 {recall1:.2f}  recall@5 {recall5:.2f}  MRR {mrr:.3f}")
    index.close()


def throughput(embedder, count: int, rounds: int = 3) -> None:  # type: ignore[no-untyped-def]
    """Batched (one call over all chunks, as ingestion does) against one call per chunk, for short texts
    (where the model call's fixed cost shows) and ingestion-sized ones (where the matrix products are all
    there is: on one CPU thread batching cannot amortise them). The two are timed in alternating rounds
    and the medians compared, so a load change on a shared machine hits both alike."""
    rng = random.Random(7)
    words = [word for text in [*FACTS.values(), *DISTRACTORS] for word in text.lower().split()]
    for tokens in (16, 200):
        texts = [" ".join(rng.choice(words) for _ in range(tokens)) for _ in range(count)]
        chunks = [ids[:tokens] for ids in embedder.tokenize(texts)]
        embedder.embed_tokens(chunks[:4])  # warm-up
        batched, single = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            embedder.embed_tokens(chunks)
            batched.append(count / (time.perf_counter() - start))
            start = time.perf_counter()
            for ids in chunks:
                embedder.embed_tokens([ids])
            single.append(count / (time.perf_counter() - start))
        fast, slow = statistics.median(batched), statistics.median(single)
        print(f"embedding: {count} chunks of {tokens} tokens, one thread, median of {rounds} alternating "
              f"rounds: batched {fast:.1f} chunks/s, one at a time {slow:.1f} chunks/s, "
              f"ratio {fast / slow:.2f}x")


def latency(directory: Path, embedder, count: int, searches: int) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    vocabulary = [f"term{n}" for n in range(5000)]
    index = SqliteChunkIndex(directory / "latency.sqlite3", embedder.model_id, embedder.dimensions)
    vectors = rng.standard_normal((count, embedder.dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    per_file = 100
    start = time.perf_counter()
    for first in range(0, count, per_file):
        texts = [" ".join(rng.choice(vocabulary, 120)) for _ in range(min(per_file, count - first))]
        index.replace_file("vs", f"file-{first // per_file}", texts, vectors[first:first + len(texts)])
    seconds = time.perf_counter() - start
    print(f"search: {count} chunks in {count // per_file} files indexed in {seconds:.1f} s")
    files = [f"file-{n}" for n in range((count + per_file - 1) // per_file)]
    queries = [" ".join(rng.choice(vocabulary, 6)) for _ in range(searches)]
    query_vectors = rng.standard_normal((searches, embedder.dimensions)).astype(np.float32)
    for mode in Mode:
        times = []
        for query, vector in zip(queries, query_vectors, strict=True):
            start = time.perf_counter()
            search(index, {"vs": files}, [query], vector[None, :], 10, mode=mode)
            times.append(time.perf_counter() - start)
        print(f"  {mode.value:8} p50 {_ms(times, 50)}  p95 {_ms(times, 95)}")
    times = []
    for query in queries[:50]:
        start = time.perf_counter()
        embedder.embed_tokens(embedder.tokenize([query]))
        times.append(time.perf_counter() - start)
    print(f"  embedding one query: p50 {_ms(times, 50)}  p95 {_ms(times, 95)}")
    index.close()


def _ms(values: list[float], percentile: int) -> str:
    return f"{statistics.quantiles(values, n=100)[percentile - 1] * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--embed-chunks", type=int, default=64)
    args = parser.parse_args()
    embedder = load_embedder(None)
    with tempfile.TemporaryDirectory() as directory:
        quality(Path(directory), embedder)
        throughput(embedder, args.embed_chunks)
        latency(Path(directory), embedder, args.chunks, args.searches)


if __name__ == "__main__":
    main()
