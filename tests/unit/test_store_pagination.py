"""The cursor pagination helper, on a real (temporary) SQLite database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from assistants import protocol as p
from assistants import store
from assistants.errors import InvalidRequest
from assistants.store import Database
from assistants.store.models import messages


@pytest.fixture()
def database(backend_database: Database) -> Database:
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_database


async def _thread_with_messages(db: Database, count: int, *,
                                same_second: bool = True) -> tuple[str, list[str]]:
    """`count` messages in insertion order; with `same_second`, all share one created_at (ties)."""
    async with db.write() as session:
        thread = await store.create_thread(session, None)
        ids = []
        for i in range(count):
            row = await store.create_message(session, thread["id"],
                                             p.CreateMessageRequest(role="user", content=f"m{i}"))
            ids.append(row["id"])
        if same_second:
            await session.execute(sa.update(messages).values(created_at=1_700_000_000))
        else:  # reverse clock: created_at order must win over insertion order
            for offset, message_id in enumerate(ids):
                await session.execute(sa.update(messages).where(messages.c.id == message_id)
                                      .values(created_at=1_700_000_000 - offset))
    return thread["id"], ids


async def _page(db: Database, thread_id: str, **query: object) -> store.Page:
    async with db.read() as session:
        return await store.list_messages(session, thread_id, store.page_request(**query))  # type: ignore[arg-type]


def _ids(page: store.Page) -> list[str]:
    return [row["id"] for row in page.rows]


async def test_defaults_newest_first_and_ties_keep_insertion_order(database: Database) -> None:
    thread_id, ids = await _thread_with_messages(database, 25)
    page = await _page(database, thread_id)
    assert _ids(page) == ids[::-1][:20]
    assert page.has_more is True
    assert _ids(await _page(database, thread_id, order="asc", limit=100)) == ids


async def test_created_at_orders_before_sequence(database: Database) -> None:
    thread_id, ids = await _thread_with_messages(database, 5, same_second=False)
    assert _ids(await _page(database, thread_id, order="asc")) == ids[::-1]


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_after_walks_every_object_once(database: Database, order: str) -> None:
    thread_id, ids = await _thread_with_messages(database, 23)
    expected = ids if order == "asc" else ids[::-1]
    seen: list[str] = []
    after = None
    while True:
        page = await _page(database, thread_id, order=order, limit=5, after=after)
        seen += _ids(page)
        if not page.has_more:
            break
        after = seen[-1]
    assert seen == expected


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_before_is_the_page_just_before_the_cursor(database: Database, order: str) -> None:
    thread_id, ids = await _thread_with_messages(database, 12)
    ordered = ids if order == "asc" else ids[::-1]
    page = await _page(database, thread_id, order=order, limit=4, before=ordered[9])
    assert _ids(page) == ordered[5:9] and page.has_more  # in the requested order; more lie before it
    body = p.list_response([p.message_object(row) for row in page.rows], page.has_more)
    assert (body.first_id, body.last_id) == (ordered[5], ordered[8])
    start = await _page(database, thread_id, order=order, limit=4, before=ordered[3])
    assert _ids(start) == ordered[:3] and not start.has_more
    exact = await _page(database, thread_id, order=order, limit=3, before=ordered[3])
    assert _ids(exact) == ordered[:3] and not exact.has_more
    assert (await _page(database, thread_id, order=order, before=ordered[0])).rows == []


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_before_walks_back_to_the_start_once(database: Database, order: str) -> None:
    thread_id, ids = await _thread_with_messages(database, 23)
    ordered = ids if order == "asc" else ids[::-1]
    seen: list[str] = []
    before = ordered[-1]
    while True:
        page = await _page(database, thread_id, order=order, limit=5, before=before)
        seen = _ids(page) + seen
        if not page.has_more:
            break
        before = seen[0]
    assert seen == ordered[:-1]


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_after_with_before_follows_after_and_stops_at_before(database: Database, order: str) -> None:
    thread_id, ids = await _thread_with_messages(database, 12)
    ordered = ids if order == "asc" else ids[::-1]
    before = ordered[9]
    # The SDK's next page: the original `before` plus `after=<last id>` -> the intersection, walked on.
    first = await _page(database, thread_id, order=order, limit=4, before=before, after=ordered[0])
    assert _ids(first) == ordered[1:5] and first.has_more
    second = await _page(database, thread_id, order=order, limit=4, before=before, after=ordered[4])
    assert _ids(second) == ordered[5:9] and not second.has_more
    last = await _page(database, thread_id, order=order, limit=4, before=before, after=ordered[8])
    assert last.rows == [] and not last.has_more


async def test_empty_page(database: Database) -> None:
    thread_id, ids = await _thread_with_messages(database, 3)
    page = await _page(database, thread_id, order="asc", after=ids[-1])
    assert page.rows == [] and page.has_more is False
    body = p.list_response([], False)
    assert (body.first_id, body.last_id, body.has_more) == (None, None, False)


async def test_unknown_cursor_is_a_400_naming_the_parameter(database: Database) -> None:
    thread_id, _ = await _thread_with_messages(database, 2)
    _other_thread, other_ids = await _thread_with_messages(database, 1)
    for param, value in (("after", "msg_nope"), ("before", other_ids[0])):  # unknown / another thread's
        with pytest.raises(InvalidRequest) as raised:
            await _page(database, thread_id, **{param: value})
        assert raised.value.param == param


@pytest.mark.parametrize(("query", "param"), [({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                                              ({"order": "up"}, "order")])
def test_bad_list_parameters(query: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        store.page_request(**query)  # type: ignore[arg-type]
    assert raised.value.param == param


def test_list_parameter_defaults() -> None:
    assert store.page_request() == store.PageRequest(limit=20, order="desc", after=None, before=None)
    assert store.page_request(limit=100, order="asc").limit == 100


async def test_run_id_filter(database: Database) -> None:
    thread_id, ids = await _thread_with_messages(database, 3)
    async with database.write() as session:
        await session.execute(sa.update(messages).where(messages.c.id == ids[1]).values(run_id="run_x"))
    async with database.read() as session:
        page = await store.list_messages(session, thread_id, store.page_request(), run_id="run_x")
    assert _ids(page) == [ids[1]]


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_run_steps_before_page(database: Database, order: str) -> None:
    """Steps are the list route that a model-less server cannot fill (the SDK test covers the others)."""
    async with database.write() as session:
        assistant = await store.create_assistant(session, p.CreateAssistantRequest(model="m"))
        thread = await store.create_thread(session, None)
        run = await store.create_run(session, thread["id"], p.CreateRunRequest(assistant_id=assistant["id"]))
        details = [p.MessageCreationDetails(p.MessageCreation(f"msg_{i}")) for i in range(5)]
        steps = [await store.create_step(session, run, detail) for detail in details]
    ids = [step["id"] for step in steps]
    ordered = ids if order == "asc" else ids[::-1]
    async with database.read() as session:
        page = await store.list_steps(session, thread["id"], run["id"],
                                      store.page_request(order=order, limit=2, before=ordered[3]))
    assert _ids(page) == ordered[1:3] and page.has_more
