"""A response from request to stored row: the history it continues, its prompt, its generation.

The seams into the shared machinery are narrow on purpose: the prompt is rendered and truncated by
`runs.prompt.build_prompt` (as a run's), decoded by `Inference.generate` (the one batcher), and
its output is read by `assistants.responses.decode` (the tool-call hold-back runs and chat use).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import msgspec

from assistants import file_search, metrics
from assistants.errors import InvalidRequest, NotFound
from assistants.inference.engine import SamplingParams
from assistants.prompt import TemplateError
from assistants.protocol.responses import (
    CreateResponseRequest,
    check_request,
    conversation_id,
    response_object,
)
from assistants.protocol.vector_stores import parse_filter
from assistants.responses import items as it
from assistants.responses.decode import Generation, Outcome, decode
from assistants.responses.events import ResponseEvents
from assistants.runs.prompt import Prompt, PromptDoesNotFit, build_prompt
from assistants.serving.sampling import to_sampling_params
from assistants.store import conversations as conversation_store
from assistants.store import responses as response_store
from assistants.store import vector_stores as vs_store
from assistants.store.ids import new_id, now
from assistants.tools.plan import TurnPlan


class Database(Protocol):
    def read(self) -> Any: ...
    def write(self) -> Any: ...


class Inference(Protocol):
    model_id: str

    @property
    def ctx_size(self) -> int: ...
    def render_chat(self, messages: list[dict[str, Any]], *, tools: Any = None,
                    add_generation_prompt: bool = True) -> str: ...
    def tokenize(self, text: str) -> list[int]: ...
    def require_constrained_decoding(self, param: str) -> None: ...
    async def generate(self, prompt: str | list[int], params: SamplingParams,
                       cache_key: str | None = None) -> Any: ...


@dataclass
class Prepared:
    values: dict[str, Any]
    """The response row as it will be stored (status in_progress until it ends)."""
    inputs: list[dict[str, Any]]
    """This response's input items, item references resolved."""
    prompt: Prompt
    plan: TurnPlan
    params: SamplingParams
    file_search_call: dict[str, Any] | None = None
    """The `file_search_call` output item, when the response searched its stores (first in its output)."""
    sources: list[file_search.FileSearchResult] = field(default_factory=list)
    """What that search found: the excerpts in the prompt, which the answer's citations point to."""

    def snapshot(self, **changes: Any) -> dict[str, Any]:
        """The Response as a wire dict (what `response.created` carries)."""
        return msgspec.to_builtins(response_object({**self.values, **changes}))


Items = list[dict[str, Any]]


async def resolve_history(database: Database, request: CreateResponseRequest,
                          new_items: Items) -> tuple[Items, Items, str | None]:
    """(history before this input, this input with item references replaced by their items, whose
    KV cache the prompt continues: the client's `prompt_cache_key`, else the conversation, else the
    chain's first response; None for a response that continues nothing)."""
    conversation = conversation_id(request)
    cache_key = conversation
    async with database.read() as session:
        try:
            if request.previous_response_id is not None:
                history, cache_key = await response_store.chain_items(session, request.previous_response_id)
            elif conversation is not None:
                history = await conversation_store.all_items(session, conversation)
            else:
                history = []
        except NotFound as exc:
            exc.param = "previous_response_id" if request.previous_response_id is not None else "conversation"
            raise
        inputs = await resolve_references(session, new_items, "input")
    return history, inputs, request.prompt_cache_key or cache_key


async def resolve_references(session: Any, items: Items, field: str) -> Items:
    """`items` with each `item_reference` replaced by the stored item it names (a response's input, a
    conversation's new items); a 404 naming `field[i].id` for one that does not exist."""
    references = [item["id"] for item in items if item["type"] == "item_reference"]
    found = await response_store.find_items(session, references)
    resolved = []
    for index, item in enumerate(items):
        if item["type"] == "item_reference":
            if item["id"] not in found:
                raise NotFound(f"No item found with id '{item['id']}'.", param=f"{field}[{index}].id")
            item = found[item["id"]]
        resolved.append(item)
    return resolved


def _text_config(request: CreateResponseRequest) -> dict[str, Any]:
    fmt = (request.text or {}).get("format") or {"type": "text"}
    return {"format": fmt, "verbosity": "medium"}


async def _check_stores(database: Database, tools: list[dict[str, Any]] | None) -> None:
    """The file_search tool's stores exist (404 naming `tools[i].vector_store_ids`)."""
    searching = it.file_search_tool(tools)
    if searching is None:
        return
    index, tool = searching
    async with database.read() as session:
        for store_id in tool["vector_store_ids"]:
            try:
                await vs_store.get_vector_store(session, store_id)
            except NotFound as exc:
                exc.param = f"tools[{index}].vector_store_ids"
                raise


async def _search(inference: Inference, database: Any, retrieval: Any, request: CreateResponseRequest,
                  messages: list[dict[str, Any]]) -> tuple[dict[str, Any], list[file_search.FileSearchResult],
                                                           str]:
    """The file_search call a response makes before its model turn, as a run's does (assistants.
    file_search): (its output item, what it found, the excerpts as prompt text)."""
    searching = it.file_search_tool(request.tools)
    assert searching is not None
    tool = searching[1]
    query = next((m["content"] for m in reversed(messages) if m["role"] == "user" and m["content"]), "")
    options = file_search.FileSearchOptions(max_num_results=tool["max_num_results"],
                                            score_threshold=tool["ranking_options"]["score_threshold"],
                                            ranker=tool["ranking_options"]["ranker"])
    condition = parse_filter(tool["filters"]) if tool["filters"] is not None else None
    sources = await file_search.search_stores(database, retrieval, tool["vector_store_ids"], query, options,
                                              condition=condition)
    item = file_search.response_call_item(
        it.new_item_id("file_search_call"), [query] if query else [], sources,
        include_results=file_search.INCLUDE_RESPONSE_RESULTS in (request.include or ()))
    block = await asyncio.to_thread(file_search.context_block, sources, inference.ctx_size // 2,
                                    lambda text: len(inference.tokenize(text)))
    return item, sources, block


async def prepare(inference: Inference, database: Database, request: CreateResponseRequest, *,
                  retrieval: Any = None) -> Prepared:
    """Validate everything and build the prompt; raises a 4xx before anything is written or decoded.
    With `retrieval`, a response with a file_search tool searches its stores here (first waiting for
    their ingestion) and its prompt carries the excerpts; without, only the tool is checked (a
    background response is enqueued so, and searches when its worker prepares it)."""
    check_request(request)
    plan = it.plan(request.tools, request.tool_choice, request.parallel_tool_calls, request.text,
                   request.max_tool_calls)
    if plan.grammar is not None:
        inference.require_constrained_decoding("text.format" if plan.json_output else "tool_choice")
    await _check_stores(database, request.tools)
    history, inputs, cache_key = await resolve_history(database, request, it.normalize_input(request.input))
    it.check_call_outputs(history, inputs)
    messages = it.prompt_messages([*history, *inputs])
    if not messages:
        raise InvalidRequest("'input' must contain at least one item with content.", param="input")
    truncation = request.truncation or "disabled"
    instructions = request.instructions or ""
    call_item: dict[str, Any] | None = None
    sources: list[file_search.FileSearchResult] = []
    if retrieval is not None and it.searches(request.tools, request.tool_choice):
        call_item, sources, block = await _search(inference, database, retrieval, request, messages)
        instructions = "\n\n".join(part for part in (instructions, block) if part)
    try:
        prompt = await asyncio.to_thread(
            build_prompt, inference, instructions, messages, truncation={"type": truncation},
            max_prompt_tokens=None, max_completion_tokens=request.max_output_tokens, tools=plan.tools)
    except TemplateError as exc:
        raise InvalidRequest(str(exc), param="input") from exc
    except PromptDoesNotFit as exc:
        raise InvalidRequest(exc.message, param="input", code="context_length_exceeded") from None
    prompt = replace(prompt, cache_key=cache_key)  # its turns' KV is found (and persisted) as a thread's
    room = inference.ctx_size - prompt.tokens
    if request.max_output_tokens is not None and request.max_output_tokens > room:
        raise InvalidRequest(
            f"The input needs {prompt.tokens} tokens; with max_output_tokens {request.max_output_tokens} "
            f"that is more than the model's context of {inference.ctx_size} tokens per request.",
            param="max_output_tokens", code="context_length_exceeded")
    # No limit set: None, and the model's `--max-output-tokens` caps it (`Inference.generate`).
    limit = min(request.max_output_tokens, room) if request.max_output_tokens else None
    params = to_sampling_params(request.temperature, request.top_p, max_tokens=limit, grammar=plan.grammar)
    values = {
        "id": new_id("resp_"), "created_at": now(), "status": "in_progress", "model": inference.model_id,
        "instructions": request.instructions, "previous_response_id": request.previous_response_id,
        "conversation_id": conversation_id(request), "store": request.store is not False,
        "background": bool(request.background), "tools": it.echoed_tools(request.tools),
        "tool_choice": request.tool_choice if request.tool_choice is not None else "auto",
        "parallel_tool_calls": request.parallel_tool_calls is not False, "text": _text_config(request),
        "include": list(request.include) if request.include else None,
        "truncation": truncation, "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": request.max_tool_calls, "temperature": params.temperature, "top_p": params.top_p,
        "user": request.user, "prompt_cache_key": request.prompt_cache_key,
        "metadata": request.metadata or {},
        "output": [], "usage": None, "error": None, "incomplete_details": None, "completed_at": None,
        "cancel_requested_at": None, "attempts": 0,
    }
    return Prepared(values, inputs, prompt, plan, params, call_item, sources)


def begin_output(prepared: Prepared, events: ResponseEvents) -> None:
    """Before the model's turn: the file_search_call item the response made, and the citations its
    answer will carry."""
    if prepared.file_search_call is not None:
        events.file_search_call(prepared.file_search_call)
    if prepared.sources:
        sources = prepared.sources
        events.annotate = lambda text: file_search.response_citations(text, sources)


def request_of(row: Mapping[str, Any], inputs: list[dict[str, Any]]) -> CreateResponseRequest:
    """The request a stored response stands for (a background response is prepared again by the
    worker from its row, so a re-queued one decodes exactly what it was asked)."""
    fmt = (row["text"] or {}).get("format")
    return CreateResponseRequest(
        input=inputs, instructions=row["instructions"], previous_response_id=row["previous_response_id"],
        conversation=row["conversation_id"], store=True, background=True,
        tools=row["tools"] or None, tool_choice=row["tool_choice"],
        parallel_tool_calls=row["parallel_tool_calls"], include=row.get("include"),
        text={"format": fmt} if fmt else None, max_output_tokens=row["max_output_tokens"],
        max_tool_calls=row["max_tool_calls"], truncation=row["truncation"], temperature=row["temperature"],
        top_p=row["top_p"])


async def start_generation(inference: Inference, prepared: Prepared) -> Generation:
    """Queue the prompt in the shared batch (the same call a run's executor makes)."""
    generation: Generation = await inference.generate(prepared.prompt.ids, prepared.params,
                                                      cache_key=prepared.prompt.cache_key)
    return generation


async def run_foreground(database: Database, prepared: Prepared, generation: Generation,
                         events: ResponseEvents, mode: str = "sync") -> AsyncIterator[None]:
    """Decode a (non-background) response, then store it; yields whenever `events` has grown. The
    terminal event is emitted before the row commits, but the last yield comes only after the commit:
    a client that sees `response.completed` can retrieve the response at once."""
    outcome = Outcome()
    begin_output(prepared, events)
    async with generation:  # type: ignore[attr-defined]
        async for _ in decode(generation, prepared.plan, events, outcome,
                              max_tool_calls=prepared.values["max_tool_calls"]):
            if outcome.status == "in_progress":
                yield
    await save_foreground(database, prepared, events.output, outcome)
    metrics.observe_response_finished(outcome.status, mode)
    yield


async def save_foreground(database: Database, prepared: Prepared, output: Sequence[Mapping[str, Any]],
                          outcome: Outcome) -> None:
    prepared.values.update(outcome.final, output=[dict(item) for item in output])
    keep = prepared.values["store"]
    conversation = prepared.values["conversation_id"]
    if not keep and conversation is None:
        return  # store=false: nothing is kept once the response ends
    async with database.write() as session:
        await response_store.store_finished(session, prepared.values, prepared.inputs, output, keep=keep,
                                            conversation_id=conversation)
