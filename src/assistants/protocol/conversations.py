"""Wire types of the Conversations API (round2 reference §1.1). Items are plain JSON objects, checked
by `assistants.responses.items` like a response's input."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from assistants.protocol.common import Metadata

MAX_ITEMS_PER_CALL = 20

Items = Annotated[list[dict[str, Any]], msgspec.Meta(max_length=MAX_ITEMS_PER_CALL)]


class CreateConversationRequest(msgspec.Struct, kw_only=True):
    items: Items | None = None
    metadata: Metadata | None = None


class UpdateConversationRequest(msgspec.Struct, kw_only=True):
    metadata: Metadata | None


class AddItemsRequest(msgspec.Struct, kw_only=True):
    items: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=MAX_ITEMS_PER_CALL)]


class Conversation(msgspec.Struct, kw_only=True):
    id: str
    created_at: int
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    object: Literal["conversation"] = "conversation"


class ConversationDeleted(msgspec.Struct):
    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True


class ItemList(msgspec.Struct, kw_only=True):
    """`conversation.items.list`/`.create` and `responses.input_items.list`: a cursor page of items."""

    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool
    object: Literal["list"] = "list"

    @classmethod
    def of(cls, items: list[dict[str, Any]], has_more: bool = False) -> ItemList:
        return cls(data=items, first_id=items[0]["id"] if items else None,
                   last_id=items[-1]["id"] if items else None, has_more=has_more)


def conversation_object(row: Any) -> Conversation:
    return msgspec.convert({k: row[k] for k in ("id", "created_at", "metadata")}, Conversation)
