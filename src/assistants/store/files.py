"""Uploaded files: metadata rows, and their bytes on disk at `<data_dir>/files/<file id>` (by id).

An upload is streamed into `files/incoming/` and renamed to its final name only once complete and
fsynced; the row is written after the rename. So a crash leaves either nothing visible or a whole
file; what a crash can leave behind (a partial upload, bytes whose row was never written or already
deleted) is swept at start-up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.errors import not_found
from assistants.store.ids import now
from assistants.store.models import files, vector_store_files
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import Record, all_records, first_record, select_records

SWEEP_GRACE_SECONDS = 600.0
"""An upload takes at most this long between its first byte and its row's commit (a bound, not a
measurement: uploads are capped by --max-file-bytes and stream at disk speed)."""


class FileBlobs:
    """The directory of file contents. Blocking calls: run them off the event loop for big files."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "files"
        self.incoming = self.root / "incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)

    def path(self, file_id: str) -> Path:
        return self.root / file_id

    def staging_path(self) -> Path:
        return self.incoming / f"{secrets.token_hex(16)}.part"

    def publish(self, staged: Path, file_id: str) -> None:
        """fsync, then the atomic rename that makes the bytes exist under their id."""
        with staged.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staged, self.path(file_id))
        directory = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def remove(self, file_id: str) -> None:
        self.path(file_id).unlink(missing_ok=True)

    def sweep(self, known_ids: set[str], *, older_than: float = SWEEP_GRACE_SECONDS) -> int:
        """Remove partial uploads and bytes without a row, untouched for `older_than` seconds (another
        process sharing the data dir may be writing a young one now, or about to commit its row);
        returns how many files went."""
        removed = 0
        before = time.time() - older_than
        for entry in [*self.incoming.iterdir(), *self.root.iterdir()]:
            orphan = entry.parent == self.incoming or (entry.is_file() and entry.name not in known_ids)
            with contextlib.suppress(FileNotFoundError):
                if orphan and entry.stat().st_mtime < before:
                    entry.unlink()
                    removed += 1
        return removed


async def create_file(session: AsyncSession, file_id: str, filename: str, purpose: str, size: int,
                      expires_at: int | None) -> Record:
    values = {"id": file_id, "created_at": now(), "bytes": size, "filename": filename, "purpose": purpose,
              "status": "processed", "expires_at": expires_at, "status_details": None}
    await session.execute(sa.insert(files), values)
    return values


async def get_file(session: AsyncSession, file_id: str) -> Record:
    row = first_record(await session.execute(select_records(files).where(files.c.id == file_id)))
    if row is None:
        raise not_found("file", file_id)
    return row


async def list_files(session: AsyncSession, page: PageRequest, purpose: str | None) -> Page:
    return await fetch_page(session, files, {"purpose": purpose} if purpose else {}, page)


async def delete_file(session: AsyncSession, file_id: str) -> list[str]:
    """Delete the row (its vector store entries go with it, by cascade); returns those stores' ids,
    whose chunks of this file the caller removes from the index."""
    stores = (await session.execute(sa.select(vector_store_files.c.vector_store_id)
                                    .where(vector_store_files.c.id == file_id))).scalars().all()
    result = await session.execute(sa.delete(files).where(files.c.id == file_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("file", file_id)
    return list(stores)


async def file_ids(session: AsyncSession) -> set[str]:
    return set((await session.execute(sa.select(files.c.id))).scalars().all())


async def expired_files(session: AsyncSession, at: int) -> list[Record]:
    return all_records(await session.execute(
        select_records(files).where(files.c.expires_at.is_not(None), files.c.expires_at <= at)))
