"""The `response.*` event sequence of one response, built from what the decoder sees.

The order is the one the SDK's `ResponseStreamState` enforces (round2 reference §1.4):
`response.created` (sequence_number 0) -> `response.in_progress` -> per output item
`response.output_item.added` -> (message) `content_part.added`, `output_text.delta`...,
`output_text.done`, `content_part.done` | (call) `function_call_arguments.delta`, `...done` ->
`response.output_item.done` -> one of `response.completed | incomplete | failed` (`TERMINAL_EVENT`).

Each event is a plain dict handed to `sink` the moment it is built; the builder also keeps the
output items, so the final Response is exactly what the deltas added up to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistants.responses.items import new_item_id
from assistants.tools.calls import ToolCall

Event = dict[str, Any]
Sink = Callable[[Event], None]

TERMINAL_EVENT = {"completed": "response.completed", "incomplete": "response.incomplete",
                  "failed": "response.failed", "cancelled": "response.failed"}
"""The terminal event per final status. There is no `response.cancelled` stream event in the SDK's
union; a cancelled response's stream ends with `response.failed` carrying status `cancelled`."""
TERMINAL_EVENTS = frozenset(TERMINAL_EVENT.values())


def discard(_: Event) -> None:
    """The sink of a response nobody streams."""


class ResponseEvents:
    def __init__(self, snapshot: dict[str, Any], sink: Sink = discard, *, next_sequence: int = 0) -> None:
        self.snapshot = snapshot
        """The Response as a wire dict; `output`, `status`, `usage`... are updated as events go out."""
        self.sink = sink
        self.sequence = next_sequence
        self.output: list[dict[str, Any]] = []
        self._text: list[str] | None = None
        self.annotate: Callable[[str], list[dict[str, Any]]] = lambda text: []
        """The annotations of a finished message's text (file citations when file_search ran)."""

    def _emit(self, type_: str, **fields: Any) -> Event:
        event = {"type": type_, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        self.sink(event)
        return event

    def _response(self) -> dict[str, Any]:
        return {**self.snapshot, "output": [dict(item) for item in self.output]}

    # -- lifecycle -------------------------------------------------------------------------------

    def created(self) -> Event:
        return self._emit("response.created", response=self._response())

    def queued(self) -> Event:
        return self._emit("response.queued", response=self._response())

    def in_progress(self) -> Event:
        self.snapshot["status"] = "in_progress"
        return self._emit("response.in_progress", response=self._response())

    def finish(self, status: str, **fields: Any) -> Event:
        """The terminal event; `fields` (usage, error, incomplete_details, completed_at) go into the
        Response."""
        self.close_text("incomplete" if status != "completed" else "completed")
        self.snapshot.update(fields, status=status)
        return self._emit(TERMINAL_EVENT[status], response=self._response())

    # -- a text message ----------------------------------------------------------------------------

    @property
    def text_open(self) -> bool:
        return self._text is not None

    def text_delta(self, piece: str) -> None:
        if self._text is None:
            self._open_text()
        assert self._text is not None
        self._text.append(piece)
        self._emit("response.output_text.delta", item_id=self.output[-1]["id"],
                   output_index=len(self.output) - 1, content_index=0, delta=piece, logprobs=[])

    def _open_text(self) -> None:
        item: dict[str, Any] = {"id": new_item_id("message"), "type": "message", "status": "in_progress",
                                "role": "assistant", "content": []}
        self.output.append(item)
        index = len(self.output) - 1
        self._emit("response.output_item.added", output_index=index, item=dict(item, content=[]))
        part = {"type": "output_text", "text": "", "annotations": []}
        self._emit("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                   part=part)
        item["content"] = [part.copy()]
        self._text = []

    def close_text(self, status: str = "completed") -> None:
        """End the open message, if any (`status` incomplete when the output was cut)."""
        if self._text is None:
            return
        text, self._text = "".join(self._text), None
        index = len(self.output) - 1
        item = self.output[index]
        annotations = self.annotate(text)
        for number, annotation in enumerate(annotations):
            self._emit("response.output_text.annotation.added", item_id=item["id"], output_index=index,
                       content_index=0, annotation_index=number, annotation=annotation)
        part = {"type": "output_text", "text": text, "annotations": annotations}
        self._emit("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                   text=text, logprobs=[])
        self._emit("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                   part=part)
        item.update(content=[part], status=status)
        self._emit("response.output_item.done", output_index=index, item=dict(item))

    def empty_message(self, status: str) -> None:
        """A response whose output is no text at all still answers with one (empty) message."""
        self._open_text()
        self.close_text(status)

    # -- file search -------------------------------------------------------------------------------

    def file_search_call(self, item: dict[str, Any]) -> None:
        """A finished `file_search_call` item (the search ran before the model's turn), with the events
        OpenAI sends for one: added (in_progress), in_progress, searching, completed, done."""
        self.output.append(dict(item))
        index = len(self.output) - 1
        self._emit("response.output_item.added", output_index=index,
                   item=dict(item, status="in_progress", results=None))
        for stage in ("in_progress", "searching", "completed"):
            self._emit(f"response.file_search_call.{stage}", item_id=item["id"], output_index=index)
        self._emit("response.output_item.done", output_index=index, item=dict(item))

    # -- function calls ----------------------------------------------------------------------------

    def function_call(self, call: ToolCall) -> None:
        self.close_text()
        item = {"id": new_item_id("function_call"), "type": "function_call", "status": "in_progress",
                "call_id": call.id, "name": call.name, "arguments": ""}
        self.output.append(item)
        index = len(self.output) - 1
        self._emit("response.output_item.added", output_index=index, item=dict(item))
        self._emit("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                   delta=call.arguments)
        self._emit("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                   name=call.name, arguments=call.arguments)
        item.update(arguments=call.arguments, status="completed")
        self._emit("response.output_item.done", output_index=index, item=dict(item))
