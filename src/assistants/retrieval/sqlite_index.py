"""The embedded chunk index: one SQLite file beside the database, FTS5 for BM25, sqlite-vec for vectors.

It is opened through apsw rather than the standard `sqlite3` module because many Python builds (this
project's CI among them) compile `sqlite3` without extension loading, and sqlite-vec is an extension.
Its own file, not the main database: that one is driven through SQLAlchemy's driver, which cannot load
it. Everything it holds is derived from the files (re-ingesting rebuilds it), and the main database
stays the truth: a search only asks for files the database lists as completed in the store.

Tables: `chunks` (the registry: store, file, position), `chunk_text` (FTS5, its own content) and
`chunk_vectors` (vec0, partitioned by store, cosine). One chunk id is the rowid in all three.
Use from one thread at a time (the retrieval service's index thread). Several processes sharing a data
dir may each have it open: writes take the write lock up front (`BEGIN IMMEDIATE`), so a writer waits
for another's commit (busy_timeout) instead of failing on a stale read snapshot.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from assistants.retrieval.index import StoredChunk

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 64
STOP_WORDS = frozenset("""
a about after all also an and any are as at be been but by can could did do does for from had has have
how i if in into is it its may me more most my no not of on one or our out over so some such than that
the their them then there these they this those to up was we were what when where which who whom why
will with would you your
""".split())
"""Left out of keyword queries: they match nearly every chunk, and fused by rank, such a weak keyword
match would count as much as a real one."""


BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another connection's (another process's) write to commit."""


class SqliteChunkIndex:
    def __init__(self, path: Path, model_id: str, dimensions: int) -> None:
        import apsw
        import sqlite_vec

        self.model_id, self.dimensions = model_id, dimensions
        self._db = apsw.Connection(str(path))
        self._db.enable_load_extension(True)
        self._db.load_extension(sqlite_vec.loadable_path())
        self._db.enable_load_extension(False)
        # Set before anything else may wait on another connection's lock. (One pragma per execute: apsw
        # runs the statements of a string lazily, as its cursor is read, so `journal_mode`'s result row
        # stopped a combined string there and the rest never ran.)
        self._db.set_busy_timeout(BUSY_TIMEOUT_MS)
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"):
            self._db.execute(pragma).fetchall()
        self.rebuilt = self._check_model()
        self._create()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction, its lock taken at BEGIN (a deferred one that read first cannot
        upgrade once another connection has committed in WAL mode: SQLITE_BUSY, whatever the timeout)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _check_model(self) -> bool:
        self._db.execute("CREATE TABLE IF NOT EXISTS index_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        stored = dict(self._db.execute("SELECT key, value FROM index_meta").fetchall())
        wanted = {"model_id": self.model_id, "dimensions": str(self.dimensions)}
        if stored == wanted:
            return False
        with self._writing():
            for table in ("chunk_vectors", "chunk_text", "chunks"):
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
            self._db.execute("DELETE FROM index_meta")
            self._db.executemany("INSERT INTO index_meta(key, value) VALUES (?, ?)", wanted.items())
        return bool(stored)

    def _create(self) -> None:
        with self._writing():
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " store_id TEXT NOT NULL, file_id TEXT NOT NULL, position INTEGER NOT NULL);"
                "CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks(store_id, file_id);"
                "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5(text, tokenize='porter unicode61');"
                "CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vectors USING vec0(store_id TEXT PARTITION KEY,"
                f" file_id TEXT, embedding FLOAT[{self.dimensions}] distance_metric=cosine)")

    def replace_file(self, store_id: str, file_id: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._writing():
            self._remove(store_id, file_id)
            for position, text in enumerate(texts):
                self._db.execute("INSERT INTO chunks(store_id, file_id, position) VALUES (?, ?, ?)",
                                 (store_id, file_id, position))
                chunk_id = self._db.last_insert_rowid()
                self._db.execute("INSERT INTO chunk_text(rowid, text) VALUES (?, ?)", (chunk_id, text))
                self._db.execute("INSERT INTO chunk_vectors(rowid, store_id, file_id, embedding)"
                                 " VALUES (?, ?, ?, ?)",
                                 (chunk_id, store_id, file_id, vectors[position].tobytes()))

    def remove_file(self, store_id: str, file_id: str) -> None:
        with self._writing():
            self._remove(store_id, file_id)

    def _remove(self, store_id: str, file_id: str) -> None:
        ids = [row[0] for row in self._db.execute(
            "SELECT id FROM chunks WHERE store_id = ? AND file_id = ?", (store_id, file_id))]
        self._delete(ids)

    def remove_store(self, store_id: str) -> None:
        with self._writing():
            self._delete([row[0] for row in self._db.execute("SELECT id FROM chunks WHERE store_id = ?",
                                                             (store_id,))])

    def _delete(self, ids: list[int]) -> None:
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            for table, column in (("chunk_vectors", "rowid"), ("chunk_text", "rowid"), ("chunks", "id")):
                self._db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", part)

    def file_keys(self) -> set[tuple[str, str]]:
        return {(store, file) for store, file in self._db.execute(
            "SELECT DISTINCT store_id, file_id FROM chunks")}

    def keyword(self, store_id: str, file_ids: Sequence[str], query: str, limit: int) -> list[int]:
        words = list(dict.fromkeys(word for word in (match.lower() for match in _WORD.findall(query))
                                   if word not in STOP_WORDS))[:MAX_QUERY_WORDS]
        if not words or not file_ids:
            return []
        # Each word quoted: FTS5 syntax (AND, NEAR, *, quotes) in a user's query is matched as text.
        match = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
        marks = ",".join("?" * len(file_ids))
        rows = self._db.execute(
            "SELECT chunk_text.rowid FROM chunk_text JOIN chunks ON chunks.id = chunk_text.rowid"
            f" WHERE chunk_text MATCH ? AND chunks.store_id = ? AND chunks.file_id IN ({marks})"
            " ORDER BY bm25(chunk_text), chunk_text.rowid LIMIT ?", (match, store_id, *file_ids, limit))
        return [row[0] for row in rows]

    def nearest(self, store_id: str, file_ids: Sequence[str], vector: np.ndarray, limit: int) -> list[int]:
        if not file_ids:
            return []
        marks = ",".join("?" * len(file_ids))
        rows = self._db.execute(
            "SELECT rowid, distance FROM chunk_vectors WHERE embedding MATCH ? AND k = ? AND store_id = ?"
            f" AND file_id IN ({marks}) ORDER BY distance",
            (np.asarray(vector, dtype=np.float32).tobytes(), limit, store_id, *file_ids))
        # vec0 allows one ORDER BY term; equal distances are ordered by chunk id here (determinism).
        return [chunk_id for chunk_id, _ in sorted(rows, key=lambda row: (row[1], row[0]))]

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, StoredChunk]:
        found: dict[int, StoredChunk] = {}
        for start in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[start:start + 500])
            marks = ",".join("?" * len(part))
            for chunk_id, store_id, file_id, position, text in self._db.execute(
                    "SELECT chunks.id, store_id, file_id, position, chunk_text.text FROM chunks"
                    f" JOIN chunk_text ON chunk_text.rowid = chunks.id WHERE chunks.id IN ({marks})", part):
                found[chunk_id] = StoredChunk(chunk_id, store_id, file_id, position, text)
        return found

    def close(self) -> None:
        self._db.close()
