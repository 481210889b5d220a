"""file_search for runs and responses: everything either needs around retrieval (one copy).

A run's executor (`Executor._with_file_search`) and a response's preparation (`responses.service`)
call it once before the prompt is built: `search_stores` searches the vector stores with the user's
latest message, after waiting for their ingestion to finish (OpenAI holds a run the same way), and the
rest shapes what is written and sent:
* `step_details(...)`: a run's `tool_calls` step details, OpenAI's shape (content only when the
  request's `include[]` asks for `step_details.tool_calls[*].file_search.results[*].content`);
  `response_call_item(...)`: a response's `file_search_call` output item (results only with
  `include=["file_search_call.results"]`);
* `context_block(...)`: the retrieved chunks as prompt text, within a token budget (best first);
* `file_citations(...)`: `file_citation` annotations where the answer quotes a retrieved chunk, in the
  Assistants shape; `response_citations(...)` the same in the Responses shape.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistants.protocol.vector_stores import Filter
from assistants.retrieval.filters import matches
from assistants.retrieval.search import Hit
from assistants.retrieval.service import Retrieval
from assistants.store import Database
from assistants.store import vector_stores as vs_store

DEFAULT_MAX_RESULTS = 20
"""OpenAI's default for gpt-4* models (5 for gpt-3.5-turbo); 1..50."""
DEFAULT_RANKER = "default_2024_08_21"
INGESTION_WAIT_SECONDS = 60.0
MIN_QUOTE_WORDS = 6
"""A run of this many words of a chunk, in order, in the answer counts as quoting it."""
INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
INCLUDE_RESPONSE_RESULTS = "file_search_call.results"


@dataclass(frozen=True, slots=True)
class FileSearchOptions:
    max_num_results: int = DEFAULT_MAX_RESULTS
    score_threshold: float = 0.0
    ranker: str = DEFAULT_RANKER

    @classmethod
    def from_tool(cls, tool: Mapping[str, Any]) -> FileSearchOptions:
        """From a run's `{"type": "file_search", "file_search": {...}}` tool (already validated)."""
        settings = tool.get("file_search") or {}
        ranking = settings.get("ranking_options") or {}
        ranker = ranking.get("ranker") or "auto"
        return cls(max_num_results=settings.get("max_num_results") or DEFAULT_MAX_RESULTS,
                   score_threshold=float(ranking.get("score_threshold") or 0.0),
                   ranker=DEFAULT_RANKER if ranker == "auto" else ranker)


@dataclass(frozen=True, slots=True)
class FileSearchResult:
    file_id: str
    file_name: str
    score: float
    text: str
    attributes: Mapping[str, Any] | None = None


async def search_stores(database: Database, retrieval: Retrieval, store_ids: Sequence[str], query: str,
                        options: FileSearchOptions, *, condition: Filter | None = None,
                        wait_seconds: float = INGESTION_WAIT_SECONDS,
                        poll_seconds: float = 0.2) -> list[FileSearchResult]:
    """Wait for the stores' ingestion, then the best chunks for `query` (the user's latest message) in
    the files whose attributes meet `condition`."""
    if not store_ids or not query.strip():
        return []
    deadline = time.monotonic() + wait_seconds
    while True:
        async with database.read() as session:
            if not await vs_store.stores_ingesting(session, store_ids) or time.monotonic() >= deadline:
                files = await vs_store.searchable_files(session, store_ids)
                break
        await asyncio.sleep(poll_seconds)
    rows = {(row["vector_store_id"], row["id"]): row for row in files
            if condition is None or matches(condition, row["attributes"])}
    store_files: dict[str, list[str]] = {}
    for store_id, file_id in rows:
        store_files.setdefault(store_id, []).append(file_id)
    if not store_files:
        return []
    hits: list[Hit] = await retrieval.search(store_files, [query], options.max_num_results,
                                             threshold=options.score_threshold)
    return [FileSearchResult(hit.file_id, row["filename"], hit.score, hit.text, row["attributes"])
            for hit in hits if (row := rows.get((hit.store_id, hit.file_id))) is not None]


def response_call_item(item_id: str, queries: Sequence[str], results: Sequence[FileSearchResult], *,
                       include_results: bool) -> dict[str, Any]:
    """A response's completed `file_search_call` output item (SDK ResponseFileSearchToolCall)."""
    shown = [{"file_id": result.file_id, "filename": result.file_name, "score": result.score,
              "text": result.text, "attributes": dict(result.attributes or {})} for result in results]
    return {"id": item_id, "type": "file_search_call", "status": "completed", "queries": list(queries),
            "results": shown if include_results else None}


def step_details(results: Sequence[FileSearchResult], options: FileSearchOptions, *,
                 include_content: bool, call_id: str | None = None) -> dict[str, Any]:
    """A `tool_calls` step's details with one `file_search` call, as OpenAI shapes it."""
    shown = []
    for result in results:
        entry: dict[str, Any] = {"file_id": result.file_id, "file_name": result.file_name,
                                 "score": result.score}
        if include_content:
            entry["content"] = [{"type": "text", "text": result.text}]
        shown.append(entry)
    return {"type": "tool_calls", "tool_calls": [{
        "id": call_id or "call_" + secrets.token_hex(12), "type": "file_search",
        "file_search": {"ranking_options": {"ranker": options.ranker,
                                            "score_threshold": options.score_threshold},
                        "results": shown}}]}


def context_block(results: Sequence[FileSearchResult], max_tokens: int,
                  count_tokens: Callable[[str], int]) -> str:
    """The retrieved excerpts as one block of prompt text, best first, as many as fit `max_tokens`."""
    header = ("Excerpts from the user's files, most relevant first. Answer from them when they are "
              "relevant, and quote them exactly where you use them.\n")
    parts, used = [header], count_tokens(header)
    for number, result in enumerate(results, start=1):
        part = f"\n[{number}] {result.file_name}:\n{result.text}\n"
        cost = count_tokens(part)
        if used + cost > max_tokens:
            continue  # a shorter, lower-ranked excerpt may still fit
        parts.append(part)
        used += cost
    if len(parts) == 1 and results:
        # Not even the best excerpt fits: give as much of it as does rather than nothing.
        text = results[0].text
        while text and used + count_tokens(f"\n[1] {results[0].file_name}:\n{text}\n") > max_tokens:
            text = text[: len(text) * 3 // 4]
        if text:
            parts.append(f"\n[1] {results[0].file_name}:\n{text}\n")
    return "".join(parts) if len(parts) > 1 else ""


def results_from_step(details: Mapping[str, Any]) -> list[FileSearchResult]:
    """The results a run's earlier file_search step stored (after a tool round the run goes on with them)."""
    found = []
    for call in details.get("tool_calls") or ():
        if call.get("type") == "file_search":
            for result in call["file_search"]["results"]:
                text = "".join(part["text"] for part in result.get("content") or ())
                found.append(FileSearchResult(result["file_id"], result["file_name"], result["score"], text))
    return found


def without_content(details: Mapping[str, Any]) -> dict[str, Any]:
    """Step details as shown when `include[]` does not ask for result content."""
    calls = []
    for call in details.get("tool_calls") or ():
        if call.get("type") == "file_search":
            call = {**call, "file_search": {**call["file_search"], "results": [
                {key: value for key, value in result.items() if key != "content"}
                for result in call["file_search"]["results"]]}}
        calls.append(call)
    return {**details, "tool_calls": calls}


_WORDS = re.compile(r"\w+", re.UNICODE)


def file_citations(answer: str, results: Sequence[FileSearchResult]) -> list[dict[str, Any]]:
    """`file_citation` annotations over each span of `answer` that repeats at least MIN_QUOTE_WORDS
    consecutive words of a retrieved chunk (case-insensitive); the best-ranked chunk quoted wins."""
    words = [(match.group().lower(), match.start(), match.end()) for match in _WORDS.finditer(answer)]
    grams: dict[tuple[str, ...], str] = {}
    for result in reversed(results):  # best-ranked last, so it overwrites
        chunk = [word.lower() for word in _WORDS.findall(result.text)]
        for start in range(len(chunk) - MIN_QUOTE_WORDS + 1):
            grams[tuple(chunk[start:start + MIN_QUOTE_WORDS])] = result.file_id
    annotations: list[dict[str, Any]] = []
    index = 0
    while index + MIN_QUOTE_WORDS <= len(words):
        file_id = grams.get(tuple(word for word, _, _ in words[index:index + MIN_QUOTE_WORDS]))
        if file_id is None:
            index += 1
            continue
        end = index + MIN_QUOTE_WORDS
        while end < len(words) and grams.get(tuple(w for w, _,
                                                   _ in words[end - MIN_QUOTE_WORDS + 1:end + 1])) == file_id:
            end += 1
        start_index, end_index = words[index][1], words[end - 1][2]
        annotations.append({"type": "file_citation", "text": answer[start_index:end_index],
                            "start_index": start_index, "end_index": end_index,
                            "file_citation": {"file_id": file_id}})
        index = end
    return annotations


def response_citations(answer: str, results: Sequence[FileSearchResult]) -> list[dict[str, Any]]:
    """`file_citations` in the Responses shape: `{type, file_id, filename, index}`, the index being the
    position in the text where the citation goes (the end of the quoted span)."""
    names = {result.file_id: result.file_name for result in results}
    return [{"type": "file_citation", "file_id": citation["file_citation"]["file_id"],
             "filename": names.get(citation["file_citation"]["file_id"], ""), "index": citation["end_index"]}
            for citation in file_citations(answer, results)]
