"""file_search for runs (src/assistants/file_search.py): the search a run makes, waiting for ingestion,
and the step details, prompt block and citations built from its results."""

from __future__ import annotations

import asyncio
from pathlib import Path

from assistants.file_search import (
    MIN_QUOTE_WORDS,
    FileSearchOptions,
    FileSearchResult,
    context_block,
    file_citations,
    search_stores,
    step_details,
)
from assistants.ingestion import IngestionWorker
from assistants.protocol.vector_stores import stored_chunking
from assistants.retrieval.service import Retrieval
from assistants.store import Database, new_id
from assistants.store import files as file_store
from assistants.store import vector_stores as vs_store
from assistants.store.files import FileBlobs
from assistants.store.vector_stores import FileEntry

RESULTS = [FileSearchResult("file-a", "a.md", 0.9, "The Zorblat festival is held every March in Quexville."),
           FileSearchResult("file-b", "b.txt", 0.4, "Trivex engines burn compressed seaweed.")]


def test_options_from_the_tool_default_as_openai_documents() -> None:
    assert FileSearchOptions.from_tool({"type": "file_search"}) == FileSearchOptions(20, 0.0,
                                                                                     "default_2024_08_21")
    tool = {"type": "file_search", "file_search": {"max_num_results": 3,
                                                   "ranking_options": {"ranker": "auto",
                                                                       "score_threshold": 0.5}}}
    assert FileSearchOptions.from_tool(tool) == FileSearchOptions(3, 0.5, "default_2024_08_21")


def test_step_details_carry_content_only_when_included() -> None:
    options = FileSearchOptions()
    without = step_details(RESULTS, options, include_content=False, call_id="call_1")
    call = without["tool_calls"][0]
    assert (without["type"], call["id"], call["type"]) == ("tool_calls", "call_1", "file_search")
    assert call["file_search"]["ranking_options"] == {"ranker": "default_2024_08_21", "score_threshold": 0.0}
    assert call["file_search"]["results"][0] == {"file_id": "file-a", "file_name": "a.md", "score": 0.9}
    with_content = step_details(RESULTS, options,
                                include_content=True)["tool_calls"][0]["file_search"]["results"]
    assert with_content[1]["content"] == [{"type": "text", "text": RESULTS[1].text}]


def test_context_block_keeps_the_best_excerpts_that_fit() -> None:
    def words(text: str) -> int:
        return len(text.split())

    block = context_block(RESULTS, 100, words)
    assert block.index("[1] a.md") < block.index("[2] b.txt")
    assert "[2] b.txt" not in context_block(RESULTS, words(block) - 3, words)
    assert context_block(RESULTS, 5, words) == ""
    assert context_block([], 100, words) == ""


def test_citations_mark_the_quoted_span() -> None:
    answer = "As the files say, the zorblat festival is held every March in Quexville. Nice."
    [citation] = file_citations(answer, RESULTS)
    assert citation["file_citation"] == {"file_id": "file-a"}
    assert answer[citation["start_index"]:citation["end_index"]] == citation["text"]
    assert citation["text"] == "the zorblat festival is held every March in Quexville"
    short = " ".join("The Zorblat festival is held every".split()[:MIN_QUOTE_WORDS - 1])
    assert file_citations(short, RESULTS) == []


async def test_search_stores_waits_for_ingestion_then_finds_the_fact(database: Database,
                                                                      tmp_path: Path) -> None:
    retrieval = Retrieval(None, tmp_path / "chunks.sqlite3")
    blobs = FileBlobs(tmp_path)
    file_id = new_id("file-")
    blobs.path(file_id).write_bytes(b"The Zorblat festival is held every March in Quexville.")
    async with database.write() as session:
        await file_store.create_file(session, file_id, "zorblat.md", "assistants", 55, None)
        store = await vs_store.create_vector_store(session, "kb", None, None, None,
                                                   [FileEntry(file_id, None, stored_chunking(None))])
    search = asyncio.create_task(search_stores(database, retrieval, [store["id"]],
                                                "When is the Zorblat festival?",
                                                FileSearchOptions(max_num_results=5), poll_seconds=0.05))
    await asyncio.sleep(0.2)
    assert not search.done()  # held: the file is still in_progress
    worker = await IngestionWorker.start(database, retrieval, blobs)
    try:
        results = await asyncio.wait_for(search, 60)
    finally:
        await worker.close()
        retrieval.close()
    assert [(result.file_id, result.file_name) for result in results] == [(file_id, "zorblat.md")]
    assert "Quexville" in results[0].text and 0 < results[0].score <= 1
