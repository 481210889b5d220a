"""Retrieval: text extraction, chunking, the embedding model and hybrid search over a chunk index.

Nothing here knows about HTTP or the store's tables: the ingestion job and the search route feed it
bytes and ids and get chunks, vectors and scored hits back.
"""
