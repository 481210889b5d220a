"""/v1/vector_stores: stores, their files, file batches and search (OpenAI's `client.vector_stores`)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from assistants import openapi
from assistants.api.pagination import PAGE_DEPENDENCY, list_body
from assistants.protocol import UNSET, Deleted, ListResponse, decode
from assistants.protocol import vector_stores as v
from assistants.retrieval.extract import ExtractionError, extract_text
from assistants.retrieval.filters import matches
from assistants.services import Services
from assistants.store import vector_stores as vs_store
from assistants.store.files import get_file
from assistants.store.pagination import PageRequest
from assistants.store.vector_stores import FileEntry


def _entries(file_ids: list[str], attributes: dict[str, Any] | None,
             strategy: v.ChunkingStrategy | None) -> list[FileEntry]:
    chunking = v.stored_chunking(strategy)
    return [FileEntry(file_id, attributes, chunking) for file_id in file_ids]


class VectorStoresController(Controller):
    path = "/v1/vector_stores"
    tags = ["vector_stores"]

    @post("/", status_code=200, opt=openapi.body(v.CreateVectorStoreRequest))
    async def create_vector_store(self, request: Request[Any, Any, Any],
                                  services: NamedDependency[Services]) -> v.VectorStore:
        body = decode(v.CreateVectorStoreRequest, await request.body())
        expires = None if body.expires_after is None else {"anchor": body.expires_after.anchor,
                                                           "days": body.expires_after.days}
        async with services.database.write() as session:
            row = await vs_store.create_vector_store(session, body.name, body.description, expires,
                                                     body.metadata,
                                                     _entries(body.file_ids or [], None,
                                                              body.chunking_strategy))
        _notify(services)
        return v.vector_store_object(row)

    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_vector_stores(self, services: NamedDependency[Services],
                                 page: NamedDependency[PageRequest]) -> ListResponse[v.VectorStore]:
        async with services.database.read() as session:
            return list_body(await vs_store.list_vector_stores(session, page), v.vector_store_object)

    @get("/{vector_store_id:str}")
    async def retrieve_vector_store(self, vector_store_id: FromPath[str],
                                    services: NamedDependency[Services]) -> v.VectorStore:
        async with services.database.read() as session:
            return v.vector_store_object(await vs_store.get_vector_store(session, vector_store_id))

    @post("/{vector_store_id:str}", status_code=200, opt=openapi.body(v.UpdateVectorStoreRequest))
    async def modify_vector_store(self, vector_store_id: FromPath[str], request: Request[Any, Any, Any],
                                  services: NamedDependency[Services]) -> v.VectorStore:
        body = decode(v.UpdateVectorStoreRequest, await request.body())
        changes: dict[str, Any] = {}
        if body.name is not UNSET:
            changes["name"] = body.name
        if body.metadata is not UNSET:
            changes["metadata"] = body.metadata or {}
        if body.expires_after is not UNSET:
            changes["expires_after"] = None if body.expires_after is None else {
                "anchor": body.expires_after.anchor, "days": body.expires_after.days}
        async with services.database.write() as session:
            row = await vs_store.update_vector_store(session, vector_store_id, changes)
        return v.vector_store_object(row)

    @delete("/{vector_store_id:str}", status_code=200)
    async def delete_vector_store(self, vector_store_id: FromPath[str],
                                  services: NamedDependency[Services]) -> Deleted:
        async with services.database.write() as session:
            await vs_store.delete_vector_store(session, vector_store_id)
        await services.retrieval.forget_store(vector_store_id)
        return Deleted(id=vector_store_id, object="vector_store.deleted")

    @post("/{vector_store_id:str}/search", status_code=200, opt=openapi.body(v.SearchRequest))
    async def search_vector_store(self, vector_store_id: FromPath[str], request: Request[Any, Any, Any],
                                  services: NamedDependency[Services]) -> v.SearchResultsPage:
        body = decode(v.SearchRequest, await request.body())
        condition = None if body.filters is None else v.parse_filter(body.filters)
        queries = [body.query] if isinstance(body.query, str) else body.query
        async with services.database.write() as session:
            await vs_store.touch_vector_store(session, vector_store_id)
        async with services.database.read() as session:
            candidates = await vs_store.searchable_files(session, [vector_store_id])
        files = {row["id"]: row for row in candidates if condition is None or matches(condition,
                                                                                      row["attributes"])}
        threshold = body.ranking_options.score_threshold if body.ranking_options else 0.0
        hits = await services.retrieval.search({vector_store_id: list(files)}, queries, body.max_num_results,
                                               threshold=threshold)
        data = [v.SearchResult(file_id=hit.file_id, filename=files[hit.file_id]["filename"], score=hit.score,
                               attributes=files[hit.file_id]["attributes"],
                               content=[v.FileContentPart(hit.text)])
                for hit in hits if hit.file_id in files]
        return v.SearchResultsPage(search_query=queries, data=data)


class VectorStoreFilesController(Controller):
    path = "/v1/vector_stores/{vector_store_id:str}/files"
    tags = ["vector_stores"]

    @post("/", status_code=200, opt=openapi.body(v.CreateVectorStoreFileRequest))
    async def create_vector_store_file(self, vector_store_id: FromPath[str], request: Request[Any, Any, Any],
                                       services: NamedDependency[Services]) -> v.VectorStoreFile:
        body = decode(v.CreateVectorStoreFileRequest, await request.body())
        async with services.database.write() as session:
            await vs_store.get_vector_store(session, vector_store_id)
            await vs_store.add_files(session, vector_store_id,
                                     _entries([body.file_id], body.attributes, body.chunking_strategy), None)
            row = await vs_store.get_store_file(session, vector_store_id, body.file_id)
        _notify(services)
        return v.store_file_object(row)

    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_vector_store_files(self, vector_store_id: FromPath[str],
                                      services: NamedDependency[Services],
                                      page: NamedDependency[PageRequest],
                                      filter: FromQuery[str | None] = None,
                                      ) -> ListResponse[v.VectorStoreFile]:
        async with services.database.read() as session:
            found = await vs_store.list_store_files(session, vector_store_id, page, filter)
        return list_body(found, v.store_file_object)

    @get("/{file_id:str}")
    async def retrieve_vector_store_file(self, vector_store_id: FromPath[str], file_id: FromPath[str],
                                         services: NamedDependency[Services]) -> v.VectorStoreFile:
        async with services.database.read() as session:
            return v.store_file_object(await vs_store.get_store_file(session, vector_store_id, file_id))

    @post("/{file_id:str}", status_code=200, opt=openapi.body(v.UpdateVectorStoreFileRequest))
    async def update_vector_store_file(self, vector_store_id: FromPath[str], file_id: FromPath[str],
                                       request: Request[Any, Any,
                                                                                                  Any],
                                       services: NamedDependency[Services]) -> v.VectorStoreFile:
        body = decode(v.UpdateVectorStoreFileRequest, await request.body())
        async with services.database.write() as session:
            row = await vs_store.update_store_file_attributes(session, vector_store_id, file_id,
                                                              body.attributes)
        return v.store_file_object(row)

    @delete("/{file_id:str}", status_code=200)
    async def delete_vector_store_file(self, vector_store_id: FromPath[str], file_id: FromPath[str],
                                       services: NamedDependency[Services]) -> Deleted:
        """Removes the file from the store (and its chunks from the index); the file itself stays."""
        async with services.database.write() as session:
            await vs_store.delete_store_file(session, vector_store_id, file_id)
        await services.retrieval.forget_file([vector_store_id], file_id)
        return Deleted(id=file_id, object="vector_store.file.deleted")

    @get("/{file_id:str}/content")
    async def retrieve_vector_store_file_content(self, vector_store_id: FromPath[str], file_id: FromPath[str],
                                                 services: NamedDependency[Services]) -> v.FileContentPage:
        """The text extracted from the file (what its chunks were cut from)."""
        async with services.database.read() as session:
            await vs_store.get_store_file(session, vector_store_id, file_id)
            row = await get_file(session, file_id)
        path = services.file_blobs.path(file_id)
        try:
            text = await asyncio.to_thread(lambda: extract_text(row["filename"], path.read_bytes()))
        except (ExtractionError, FileNotFoundError):
            return v.FileContentPage(data=[])
        return v.FileContentPage(data=[v.FileContentPart(text)])


class FileBatchesController(Controller):
    path = "/v1/vector_stores/{vector_store_id:str}/file_batches"
    tags = ["vector_stores"]

    @post("/", status_code=200, opt=openapi.body(v.CreateFileBatchRequest))
    async def create_file_batch(self, vector_store_id: FromPath[str], request: Request[Any, Any, Any],
                                services: NamedDependency[Services]) -> v.VectorStoreFileBatch:
        body = decode(v.CreateFileBatchRequest, await request.body())
        if body.files is not None:
            entries = [entry for item in body.files for entry in _entries(
                [item.file_id], item.attributes if item.attributes is not None else body.attributes,
                item.chunking_strategy or body.chunking_strategy)]
        else:
            entries = _entries(body.file_ids or [], body.attributes, body.chunking_strategy)
        async with services.database.write() as session:
            row = await vs_store.create_batch(session, vector_store_id, entries)
        _notify(services)
        return v.batch_object(row)

    @get("/{batch_id:str}")
    async def retrieve_file_batch(self, vector_store_id: FromPath[str], batch_id: FromPath[str],
                                  services: NamedDependency[Services]) -> v.VectorStoreFileBatch:
        async with services.database.read() as session:
            return v.batch_object(await vs_store.get_batch(session, vector_store_id, batch_id))

    @post("/{batch_id:str}/cancel", status_code=200)
    async def cancel_file_batch(self, vector_store_id: FromPath[str], batch_id: FromPath[str],
                                services: NamedDependency[Services]) -> v.VectorStoreFileBatch:
        async with services.database.write() as session:
            return v.batch_object(await vs_store.cancel_batch(session, vector_store_id, batch_id))

    @get("/{batch_id:str}/files", dependencies=PAGE_DEPENDENCY)
    async def list_file_batch_files(self, vector_store_id: FromPath[str], batch_id: FromPath[str],
                                    services: NamedDependency[Services],
                                    page: NamedDependency[PageRequest],
                                    filter: FromQuery[str | None] = None) -> ListResponse[v.VectorStoreFile]:
        async with services.database.read() as session:
            await vs_store.get_batch(session, vector_store_id, batch_id)
            found = await vs_store.list_store_files(session, vector_store_id, page, filter, batch_id)
        return list_body(found, v.store_file_object)


def _notify(services: NamedDependency[Services]) -> None:
    if services.ingestion is not None:
        services.ingestion.notify()


ROUTES = [VectorStoresController, VectorStoreFilesController, FileBatchesController]
