"""Chunking by the embedding model's tokens: windows of `max_tokens` that overlap by `overlap` tokens.

A chunk's text is the exact span of the source between its first and last token, so what a search
returns is what the file says (case, spacing and punctuation included), not a detokenized rendering.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    token_ids: list[int]


def chunk_tokens(text: str, ids: list[int], offsets: list[tuple[int, int]], max_tokens: int,
                 overlap: int) -> list[Chunk]:
    if not 0 <= overlap <= max_tokens // 2:
        raise ValueError("overlap must be between 0 and half of max_tokens")
    chunks: list[Chunk] = []
    step = max_tokens - overlap
    for start in range(0, len(ids), step):
        end = min(start + max_tokens, len(ids))
        chunks.append(Chunk(text[offsets[start][0]:offsets[end - 1][1]], ids[start:end]))
        if end == len(ids):
            break
    return chunks
