"""Cached prefixes on disk: one file per cache key (a thread), under a byte budget, least recently used out.

A file holds a header, the token ids and the engine's state bytes: llama.cpp's sequence state
(`llama_state_seq_get_data`) for the GGUF engine, mlx-lm's `save_prompt_cache` safetensors for the
MLX engine. Files live in a directory named by a fingerprint of everything that makes a state readable
(engine, model files, context size, KV types, library builds), so another model or context never
reads them. The header carries a checksum: a truncated or corrupted file is refused before the engine
sees it. Writes go to a temporary name then `os.replace`, on a writer thread, so a kill -9 leaves the
old file or the new one, never half of one. The engine thread hands over its one copy of the state
(checksummed and written from that buffer, never copied again: a 16k-token thread's state is 288 MiB).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import struct
import threading
import zlib
from array import array
from collections.abc import Sequence
from pathlib import Path

from assistants import metrics

log = logging.getLogger("assistants.inference.kvdisk")

_MAGIC = b"AKV1"
_HEADER = struct.Struct("<4sIIQ")  # magic, n_tokens, crc32 of tokens + state, state bytes


def fingerprint(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()[:16]


def file_name(key: str) -> str:
    """The file a key's prefix is kept in (thread ids are not used as names as they are)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32] + ".kv"


class DiskCache:
    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.root = root
        self.budget = budget_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        self._writes: queue.Queue[tuple[str, bytes, memoryview] | None] = queue.Queue()
        self._lock = threading.Lock()  # file replace/delete vs budget enforcement
        self._forgotten: set[str] = set()
        """Deleted keys (threads): a write still queued for one must not bring its file back."""
        self._writer = threading.Thread(target=self._write_loop, name="assistants-kv-writer", daemon=True)
        self._writer.start()

    def path(self, key: str) -> Path:
        return self.root / file_name(key)

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def save(self, key: str, tokens: Sequence[int], state: bytes | memoryview) -> None:
        """Queue a write (returns at once). `state` is the caller's to give away: it is written as is."""
        self._writes.put((key, array("i", tokens).tobytes(), memoryview(state).cast("B")))

    def load(self, key: str) -> tuple[list[int], bytes] | None:
        """(tokens, state) of a key's file; None if absent. Raises ValueError if it is unreadable."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) < _HEADER.size:
            raise ValueError("truncated header")
        magic, n_tokens, crc, n_state = _HEADER.unpack_from(data)
        if magic != _MAGIC or len(data) != _HEADER.size + 4 * n_tokens + n_state:
            raise ValueError("bad magic or size")
        ids = data[_HEADER.size:_HEADER.size + 4 * n_tokens]
        state = data[_HEADER.size + 4 * n_tokens:]
        if zlib.crc32(state, zlib.crc32(ids)) != crc:
            raise ValueError("checksum mismatch")
        os.utime(path)  # used: least recently used goes first
        return array("i", ids).tolist(), state

    def discard(self, key: str) -> None:
        """Remove a key's unusable file (it may be written again)."""
        with self._lock:
            self.path(key).unlink(missing_ok=True)

    def unreadable(self, key: str, problem: Exception) -> None:
        """A key's file could not be restored (either engine): say so, count it, and remove it; the
        caller prefills the prompt instead."""
        log.warning("KV cache file of thread %s is unreadable (%s): ignored, the prompt is prefilled",
                    key, problem)
        metrics.observe_kv_lookup("restore_failed")
        self.discard(key)

    def delete(self, key: str) -> None:
        """The key's owner is gone: remove its file, and never write one for it again."""
        with self._lock:
            self._forgotten.add(key)
            self.path(key).unlink(missing_ok=True)

    def bytes_used(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("*.kv"))

    def flush(self) -> None:
        """Wait until queued writes are on disk."""
        self._writes.join()

    def close(self) -> None:
        self._writes.put(None)
        self._writer.join(timeout=30)

    def _write_loop(self) -> None:
        while True:
            item = self._writes.get()
            try:
                if item is None:
                    return
                self._write(*item)
            except Exception:
                log.exception("could not write a KV cache file")
            finally:
                self._writes.task_done()

    def _write(self, key: str, ids: bytes, state: memoryview) -> None:
        header = _HEADER.pack(_MAGIC, len(ids) // 4, zlib.crc32(state, zlib.crc32(ids)), len(state))
        if len(header) + len(ids) + len(state) > self.budget:
            return
        path = self.path(key)
        tmp = path.with_suffix(".tmp")
        with self._lock:
            if key in self._forgotten:
                return
            with tmp.open("wb") as out:
                out.write(header)
                out.write(ids)
                out.write(state)
            os.replace(tmp, path)
            self._enforce_budget(keep=path)

    def _enforce_budget(self, keep: Path) -> None:
        files = []
        for p in self.root.glob("*.kv"):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            files.append((st.st_mtime_ns, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.budget:
                break
            if p == keep:
                continue
            p.unlink(missing_ok=True)
            total -= size
