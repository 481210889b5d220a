"""/v1/files: upload (streamed to disk), list, retrieve, content, delete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import File

from assistants import store
from assistants.api.pagination import list_body
from assistants.api.uploads import receive_upload
from assistants.errors import InvalidRequest, not_found
from assistants.protocol import ListResponse
from assistants.protocol.files import FileDeleted, FileObject, check_purpose, expiry_seconds, file_object
from assistants.services import Services
from assistants.store import files as file_store
from assistants.store.pagination import PageRequest

MAX_LIST_LIMIT = 10_000
"""OpenAI's files list takes 1..10,000 (and defaults to 10,000)."""


def _provide_file_page(limit: FromQuery[int | None] = None, order: FromQuery[str | None] = None,
                       after: FromQuery[str | None] = None) -> PageRequest:
    if limit is None:
        limit = MAX_LIST_LIMIT
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidRequest(f"Invalid 'limit': expected an integer between 1 and {MAX_LIST_LIMIT}, "
                             f"got {limit}.",
                             param="limit")
    page = store.page_request(1, order, after)
    return PageRequest(limit=limit, order=page.order, after=page.after)


class FilesController(Controller):
    path = "/v1/files"
    tags = ["files"]

    @post("/", status_code=200, request_max_body_size=None)
    async def create_file(self, request: Request[Any, Any, Any],
                          services: NamedDependency[Services]) -> FileObject:
        blobs = services.file_blobs
        upload = await receive_upload(request, blobs.staging_path(), "file", services.settings.max_file_bytes)
        staged = upload.staged
        try:
            if staged is None or upload.filename is None:
                raise InvalidRequest("Missing required parameter: 'file'.", param="file")
            purpose = check_purpose(upload.fields.get("purpose"))
            seconds = expiry_seconds(upload.fields.get("expires_after[anchor]"),
                                     upload.fields.get("expires_after[seconds]"))
            file_id = store.new_id("file-")
            await asyncio.to_thread(blobs.publish, staged, file_id)
            staged = None
            created = store.now()
            async with services.database.write() as session:
                row = await file_store.create_file(session, file_id, _base_name(upload.filename), purpose,
                                                   upload.size,
                                                   None if seconds is None else created + seconds)
        finally:
            if staged is not None:
                staged.unlink(missing_ok=True)
        return file_object(row)

    @get("/", dependencies={"page": Provide(_provide_file_page, sync_to_thread=False)})
    async def list_files(self, services: NamedDependency[Services], page: NamedDependency[PageRequest],
                         purpose: FromQuery[str | None] = None) -> ListResponse[FileObject]:
        async with services.database.read() as session:
            return list_body(await file_store.list_files(session, page, purpose), file_object)

    @get("/{file_id:str}")
    async def retrieve_file(self, file_id: FromPath[str], services: NamedDependency[Services]) -> FileObject:
        async with services.database.read() as session:
            return file_object(await file_store.get_file(session, file_id))

    @get("/{file_id:str}/content", media_type="application/octet-stream")
    async def retrieve_file_content(self, file_id: FromPath[str],
                                    services: NamedDependency[Services]) -> File:
        async with services.database.read() as session:
            row = await file_store.get_file(session, file_id)
        path = services.file_blobs.path(file_id)
        if not path.is_file():
            raise not_found("file", file_id)
        return File(path=path, filename=row["filename"], media_type="application/octet-stream",
                    content_disposition_type="attachment")

    @delete("/{file_id:str}", status_code=200)
    async def delete_file(self, file_id: FromPath[str], services: NamedDependency[Services]) -> FileDeleted:
        async with services.database.write() as session:
            stores = await file_store.delete_file(session, file_id)
        await services.retrieval.forget_file(stores, file_id)
        await asyncio.to_thread(services.file_blobs.remove, file_id)
        return FileDeleted(id=file_id)


def _base_name(filename: str) -> str:
    """The name as sent, without any directory part a client put in it, at most 512 characters."""
    name = Path(filename.replace("\\", "/")).name or "file"
    return name[:512]
