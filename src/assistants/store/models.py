"""Typed tables. Column names equal the wire field names, so a row converts to its wire object directly.

Every table has an integer `sequence` (the primary key, assigned at insert) beside its public string
`id`: lists order by `(created_at, sequence)`, which stays stable when many objects share one second.
JSON columns hold the wire form of nested values (content parts, tools, response_format, ...).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONValue = Any


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: sa.JSON, list[Any]: sa.JSON, JSONValue: sa.JSON}


def _id_column() -> Mapped[str]:
    return mapped_column(sa.String(64), unique=True)


def _metadata_column() -> Mapped[dict[str, Any]]:
    # `metadata` is reserved on declarative classes, so the attribute gets a trailing underscore;
    # the column (and so a Core row's attribute) keeps the wire name.
    return mapped_column("metadata", sa.JSON, default=dict)


class Assistant(Base):
    __tablename__ = "assistants"
    __table_args__ = (sa.Index("ix_assistants_order", "created_at", "sequence"),)

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    name: Mapped[str | None] = mapped_column(sa.String(256))
    description: Mapped[str | None] = mapped_column(sa.String(512))
    model: Mapped[str] = mapped_column(sa.String(256))
    instructions: Mapped[str | None] = mapped_column(sa.Text)
    tools: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    tool_resources: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    metadata_: Mapped[dict[str, Any]] = _metadata_column()
    temperature: Mapped[float | None]
    top_p: Mapped[float | None]
    response_format: Mapped[JSONValue] = mapped_column(sa.JSON)
    """"auto" or {"type": "text" | "json_object" | "json_schema", ...}."""


class Thread(Base):
    __tablename__ = "threads"
    __table_args__ = (sa.Index("ix_threads_order", "created_at", "sequence"),)

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    metadata_: Mapped[dict[str, Any]] = _metadata_column()
    tool_resources: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_thread_order", "thread_id", "created_at", "sequence"),
        sa.Index("ix_messages_run", "run_id"),
    )

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    thread_id: Mapped[str] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(sa.String(16))
    content: Mapped[list[Any]] = mapped_column(sa.JSON)
    """Output content parts: [{"type": "text", "text": {"value", "annotations"}}, ...]."""
    status: Mapped[str] = mapped_column(sa.String(16))
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    completed_at: Mapped[int | None]
    incomplete_at: Mapped[int | None]
    assistant_id: Mapped[str | None] = mapped_column(sa.String(64))
    run_id: Mapped[str | None] = mapped_column(sa.String(64))
    """The run that wrote it (null for messages a user created). Removed with its thread."""
    attachments: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    metadata_: Mapped[dict[str, Any]] = _metadata_column()


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        sa.Index("ix_runs_thread_order", "thread_id", "created_at", "sequence"),
        sa.Index("ix_runs_status", "status", "sequence"),
    )

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    """Also the queue order: the worker claims `queued` runs by ascending sequence."""
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    thread_id: Mapped[str] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"))
    assistant_id: Mapped[str] = mapped_column(sa.String(64))
    """Not a foreign key: an assistant may be deleted while its runs remain readable."""
    status: Mapped[str] = mapped_column(sa.String(16))
    required_action: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    usage: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    expires_at: Mapped[int | None]
    started_at: Mapped[int | None]
    cancelled_at: Mapped[int | None]
    failed_at: Mapped[int | None]
    completed_at: Mapped[int | None]
    model: Mapped[str] = mapped_column(sa.String(256))
    instructions: Mapped[str] = mapped_column(sa.Text)
    """Effective: run ?? assistant ?? "", with additional_instructions already appended."""
    additional_instructions: Mapped[str | None] = mapped_column(sa.Text)
    """As given on create, kept for the record (already part of `instructions`)."""
    tools: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    metadata_: Mapped[dict[str, Any]] = _metadata_column()
    temperature: Mapped[float | None]
    top_p: Mapped[float | None]
    max_prompt_tokens: Mapped[int | None]
    max_completion_tokens: Mapped[int | None]
    truncation_strategy: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    tool_choice: Mapped[JSONValue] = mapped_column(sa.JSON)
    parallel_tool_calls: Mapped[bool]
    response_format: Mapped[JSONValue] = mapped_column(sa.JSON)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    """How many times a worker has claimed this run."""
    worker_id: Mapped[str | None] = mapped_column(sa.String(128))
    """The worker that claimed it while it is in_progress / cancelling (null otherwise)."""
    heartbeat_at: Mapped[float | None] = mapped_column(sa.Float)
    """Unix seconds; the owning worker refreshes it. Stale means the owner is gone (runs/recovery)."""
    cancel_requested_at: Mapped[float | None] = mapped_column(sa.Float)
    """When a cancel was asked for: the owning worker, in whatever process, acts on it."""
    isolated: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    """Its worker died while decoding it with other runs: it is decoded alone from now on."""
    crashes: Mapped[int] = mapped_column(default=0, server_default="0")
    """Worker deaths while it was the only run decoded: proof it kills workers (poison rule)."""
    deltas_pruned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    """Its delta events were deleted from the log, `--delta-retention` after it ended (store.pruning)."""


class RunStep(Base):
    __tablename__ = "run_steps"
    __table_args__ = (sa.Index("ix_run_steps_run_order", "run_id", "created_at", "sequence"),)

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    assistant_id: Mapped[str] = mapped_column(sa.String(64))
    type: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    step_details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    usage: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    expired_at: Mapped[int | None]
    cancelled_at: Mapped[int | None]
    failed_at: Mapped[int | None]
    completed_at: Mapped[int | None]
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", sa.JSON)


class RunEvent(Base):
    """Append-only log of everything a stream subscriber sees. `seq` is the SSE event id.

    Besides runs' events it carries background responses' announcements (`ResponseNotice`: no thread,
    a `response_id`), so every process's worker hears of them as it hears of runs; a response's own
    stream is `response_events`."""

    __tablename__ = "run_events"
    __table_args__ = (
        sa.Index("ix_run_events_run_seq", "run_id", "seq"),
        sa.Index("ix_run_events_thread_seq", "thread_id", "seq"),
        # Partial: run events (nearly all rows) cost no index entry; a deleted response's cascade uses it.
        sa.Index("ix_run_events_response", "response_id", sqlite_where=sa.text("response_id IS NOT NULL"),
                 postgresql_where=sa.text("response_id IS NOT NULL")),
        # AUTOINCREMENT: SQLite never reuses a seq, even after the newest rows are deleted.
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                                     autoincrement=True)
    """64-bit (the log keeps every delta); INTEGER on SQLite, where only that is a rowid/AUTOINCREMENT."""
    run_id: Mapped[str | None] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    thread_id: Mapped[str | None] = mapped_column(sa.ForeignKey("threads.id", ondelete="CASCADE"))
    """None only on a response's announcement."""
    assistant_id: Mapped[str | None] = mapped_column(sa.String(64))
    response_id: Mapped[str | None] = mapped_column(sa.ForeignKey("responses.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(sa.String(64))
    """SSE event name: thread.run.created, thread.message.delta, ..., response.queued"""
    data: Mapped[str] = mapped_column(sa.Text)
    """The event's JSON payload, as sent on the `data:` line."""
    created_at: Mapped[float] = mapped_column(sa.Float)
    """Unix seconds with sub-second precision (pickup latency is measured from it)."""


class File(Base):
    """An uploaded file's metadata; its bytes live at `<data_dir>/files/<id>` (see store.files)."""

    __tablename__ = "files"
    __table_args__ = (sa.Index("ix_files_order", "created_at", "sequence"),)

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    bytes: Mapped[int]
    filename: Mapped[str] = mapped_column(sa.String(512))
    purpose: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    expires_at: Mapped[int | None]
    status_details: Mapped[str | None] = mapped_column(sa.Text)


class VectorStore(Base):
    """`status`, `file_counts` and `usage_bytes` are not columns: they are counted from its files on read,
    so they are always true."""

    __tablename__ = "vector_stores"
    __table_args__ = (sa.Index("ix_vector_stores_order", "created_at", "sequence"),)

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    name: Mapped[str | None] = mapped_column(sa.String(256))
    description: Mapped[str | None] = mapped_column(sa.String(512))
    last_active_at: Mapped[int]
    metadata_: Mapped[dict[str, Any]] = _metadata_column()
    expires_after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    expires_at: Mapped[int | None]


class VectorStoreFile(Base):
    """A file in a store. `id` is the file's id (as OpenAI has it), unique within the store.

    A row `in_progress` IS the ingestion job: the ingestion worker picks them up (also after a crash)."""

    __tablename__ = "vector_store_files"
    __table_args__ = (
        sa.UniqueConstraint("vector_store_id", "id", name="uq_vector_store_files_store_file"),
        sa.Index("ix_vector_store_files_order", "vector_store_id", "created_at", "sequence"),
        sa.Index("ix_vector_store_files_status", "status", "sequence"),
        sa.Index("ix_vector_store_files_file", "id"),
    )

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.ForeignKey("files.id", ondelete="CASCADE"))
    vector_store_id: Mapped[str] = mapped_column(sa.ForeignKey("vector_stores.id", ondelete="CASCADE"))
    created_at: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))
    usage_bytes: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    chunking_strategy: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    batch_id: Mapped[str | None] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    """How many times ingestion started on this file (a file that crashes the server fails after a few)."""
    worker_id: Mapped[str | None] = mapped_column(sa.String(128))
    """The ingestion worker that holds the job (`host:pid:random`), as a run's worker_id."""
    heartbeat_at: Mapped[float | None] = mapped_column(sa.Float)
    """When that worker last renewed its lease; a job whose lease is stale is claimed again."""


class VectorStoreFileBatch(Base):
    """`status` is stored only once cancelled; otherwise it and `file_counts` are counted from its files."""

    __tablename__ = "vector_store_file_batches"
    __table_args__ = (sa.Index("ix_vector_store_file_batches_store", "vector_store_id"),)

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    vector_store_id: Mapped[str] = mapped_column(sa.ForeignKey("vector_stores.id", ondelete="CASCADE"))
    created_at: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))


class Response(Base):
    """One `POST /v1/responses` that was stored (`store: true`, or any background response).

    A background response row in status `queued` is its queue entry, as a run row is for runs.
    `output` is the wire list of output items; `response_items` holds them again, beside the inputs.
    """

    __tablename__ = "responses"
    __table_args__ = (sa.Index("ix_responses_status", "status", "sequence"),)

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))
    model: Mapped[str] = mapped_column(sa.String(256))
    instructions: Mapped[str | None] = mapped_column(sa.Text)
    previous_response_id: Mapped[str | None] = mapped_column(sa.String(64))
    """Not a foreign key: a chain link may be deleted; following it then ends the history there."""
    conversation_id: Mapped[str | None] = mapped_column(sa.String(64))
    store: Mapped[bool]
    background: Mapped[bool]
    tools: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    tool_choice: Mapped[JSONValue] = mapped_column(sa.JSON)
    parallel_tool_calls: Mapped[bool]
    include: Mapped[list[str] | None] = mapped_column(sa.JSON)
    """The request's `include` values (`file_search_call.results` puts results in the output)."""
    text: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    truncation: Mapped[str] = mapped_column(sa.String(16))
    max_output_tokens: Mapped[int | None]
    max_tool_calls: Mapped[int | None]
    temperature: Mapped[float | None]
    top_p: Mapped[float | None]
    user: Mapped[str | None] = mapped_column(sa.String(256))
    prompt_cache_key: Mapped[str | None] = mapped_column(sa.String(256))
    metadata_: Mapped[dict[str, Any]] = _metadata_column()
    output: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    usage: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    completed_at: Mapped[int | None]
    cancel_requested_at: Mapped[int | None]
    """Set by `POST /cancel` on a background response being decoded; its decoder stops at the next check."""
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    worker_id: Mapped[str | None] = mapped_column(sa.String(128))
    """The worker decoding it (`host:pid:random`), as for runs; null unless in_progress."""
    heartbeat_at: Mapped[float | None]
    """Refreshed by its worker while it decodes; a stale one means the worker died."""
    deltas_pruned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    """Its delta events were deleted from `response_events`, as for runs (store.pruning)."""


class ResponseItem(Base):
    """The input and output items of one stored response, in order: `input_items` lists the inputs,
    a `previous_response_id` chain reads both, an `item_reference` finds any of them by id."""

    __tablename__ = "response_items"
    __table_args__ = (
        sa.Index("ix_response_items_order", "response_id", "direction", "created_at", "sequence"),
        sa.Index("ix_response_items_id", "id"),
    )

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(64))
    """Not unique: an item passed back as input keeps the id it had as an output."""
    created_at: Mapped[int]
    response_id: Mapped[str] = mapped_column(sa.ForeignKey("responses.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(sa.String(8))
    """`input` or `output`."""
    type: Mapped[str] = mapped_column(sa.String(32))
    item: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    """The item's wire form, `id` included."""


class ResponseEvent(Base):
    """The stream of a background response, event by event: `GET /responses/{id}?stream=true` replays it."""

    __tablename__ = "response_events"

    response_id: Mapped[str] = mapped_column(sa.ForeignKey("responses.id", ondelete="CASCADE"),
                                             primary_key=True)
    sequence_number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[str] = mapped_column(sa.Text)
    """The event's JSON (its `type` and `sequence_number` included), as sent on the `data:` line."""


class Conversation(Base):
    __tablename__ = "conversations"

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = _id_column()
    created_at: Mapped[int]
    metadata_: Mapped[dict[str, Any]] = _metadata_column()


class ConversationItem(Base):
    __tablename__ = "conversation_items"
    __table_args__ = (sa.Index("ix_conversation_items_order", "conversation_id", "created_at", "sequence"),)
    # Item ids repeat the response items' ids (an output appended to a conversation keeps its id).

    sequence: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[int]
    conversation_id: Mapped[str] = mapped_column(sa.ForeignKey("conversations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(32))
    item: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


# Declarative types `__table__` as the general FromClause; these are the Tables themselves.
assistants = cast(sa.Table, Assistant.__table__)
threads = cast(sa.Table, Thread.__table__)
messages = cast(sa.Table, Message.__table__)
runs = cast(sa.Table, Run.__table__)
run_steps = cast(sa.Table, RunStep.__table__)
run_events = cast(sa.Table, RunEvent.__table__)
files = cast(sa.Table, File.__table__)
vector_stores = cast(sa.Table, VectorStore.__table__)
vector_store_files = cast(sa.Table, VectorStoreFile.__table__)
vector_store_file_batches = cast(sa.Table, VectorStoreFileBatch.__table__)
responses = cast(sa.Table, Response.__table__)
response_items = cast(sa.Table, ResponseItem.__table__)
response_events = cast(sa.Table, ResponseEvent.__table__)
conversations = cast(sa.Table, Conversation.__table__)
conversation_items = cast(sa.Table, ConversationItem.__table__)
