"""Wire events of a run stream: their names, and the payloads that are not plain objects (deltas, the
error frame). Every event is emitted under a `RunEventName`; nothing builds the names by hand."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from msgspec import UNSET, Struct, UnsetType


class RunEventName(StrEnum):
    THREAD_CREATED = "thread.created"
    RUN_CREATED = "thread.run.created"
    RUN_QUEUED = "thread.run.queued"
    RUN_IN_PROGRESS = "thread.run.in_progress"
    RUN_REQUIRES_ACTION = "thread.run.requires_action"
    RUN_COMPLETED = "thread.run.completed"
    RUN_INCOMPLETE = "thread.run.incomplete"
    RUN_FAILED = "thread.run.failed"
    RUN_CANCELLING = "thread.run.cancelling"
    RUN_CANCELLED = "thread.run.cancelled"
    RUN_EXPIRED = "thread.run.expired"
    STEP_CREATED = "thread.run.step.created"
    STEP_IN_PROGRESS = "thread.run.step.in_progress"
    STEP_DELTA = "thread.run.step.delta"
    STEP_COMPLETED = "thread.run.step.completed"
    STEP_FAILED = "thread.run.step.failed"
    STEP_CANCELLED = "thread.run.step.cancelled"
    STEP_EXPIRED = "thread.run.step.expired"
    MESSAGE_CREATED = "thread.message.created"
    MESSAGE_IN_PROGRESS = "thread.message.in_progress"
    MESSAGE_DELTA = "thread.message.delta"
    MESSAGE_COMPLETED = "thread.message.completed"
    MESSAGE_INCOMPLETE = "thread.message.incomplete"

    @classmethod
    def for_run(cls, status: str) -> RunEventName:
        """The event that announces a run entering `status`."""
        return cls(f"thread.run.{status}")

    @classmethod
    def for_step(cls, status: str) -> RunEventName:
        return cls(f"thread.run.step.{status}")

    @classmethod
    def for_message(cls, status: str) -> RunEventName:
        return cls(f"thread.message.{status}")


class ResponseNotice(StrEnum):
    """A background response's announcements in the run event log (the log every process follows), so
    that a worker anywhere claims it, or stops decoding it, at once; the data is the response object.
    Its own stream (`response.created`, deltas, ...) is logged apart, in `response_events`."""

    QUEUED = "response.queued"
    CANCELLING = "response.cancelling"


DELTA_EVENTS = frozenset({RunEventName.MESSAGE_DELTA, RunEventName.STEP_DELTA})
TERMINAL_RUN_EVENTS = frozenset({
    RunEventName.RUN_COMPLETED, RunEventName.RUN_INCOMPLETE, RunEventName.RUN_FAILED,
    RunEventName.RUN_CANCELLED, RunEventName.RUN_EXPIRED,
})
"""A run stream ends after one of these (a run in a terminal status never emits again)."""
PAUSE_RUN_EVENTS = frozenset({RunEventName.RUN_REQUIRES_ACTION})
"""A `stream=true` request also ends here; submit_tool_outputs opens the next stream."""


class DeltaText(Struct, omit_defaults=True):
    value: str
    annotations: list[Any] | UnsetType = UNSET
    """Sent (empty) on a message's first delta only, as OpenAI does."""


class DeltaTextPart(Struct):
    index: int
    type: str
    text: DeltaText


class MessageDeltaBody(Struct):
    content: list[DeltaTextPart]


class MessageDelta(Struct, kw_only=True):
    """`thread.message.delta`: one decoded piece of a message's text."""

    id: str
    object: str = "thread.message.delta"
    delta: MessageDeltaBody

    @classmethod
    def text(cls, message_id: str, piece: str, *, first: bool) -> MessageDelta:
        text = DeltaText(piece, [] if first else UNSET)
        return cls(id=message_id, delta=MessageDeltaBody([DeltaTextPart(0, "text", text)]))


class RunStepDeltaBody(Struct):
    step_details: dict[str, Any]


class RunStepDelta(Struct, kw_only=True):
    """`thread.run.step.delta`: a piece of a step's details (tool-call deltas)."""

    id: str
    object: str = "thread.run.step.delta"
    delta: RunStepDeltaBody


class StreamErrorBody(Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class StreamError(Struct):
    """The `event: error` frame after `thread.run.failed`, in the wrapped form the SDK raises on."""

    error: StreamErrorBody
