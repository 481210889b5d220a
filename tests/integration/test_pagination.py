"""Cursor pagination through the SDK: auto-pagination in both orders, after/before, ties in one second."""

from __future__ import annotations

import openai
import pytest

from tests.serverproc import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ThreadIds = tuple[str, list[str]]
COUNT = 45  # > 2 default pages of 20, so pages turn


@pytest.fixture(scope="module")
def thread_and_ids(store_server: ServerProcess) -> ThreadIds:
    client = openai.OpenAI(base_url=store_server.base_url + "/v1", api_key="test", max_retries=0)
    thread = client.beta.threads.create()
    # Created back to back: most share a created_at second, so order rests on the insertion sequence.
    ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=str(i)).id for i in range(COUNT)
    ]
    return thread.id, ids


def test_auto_pagination_desc_default(client: openai.OpenAI, thread_and_ids: ThreadIds) -> None:
    thread_id, ids = thread_and_ids
    first = client.beta.threads.messages.list(thread_id)
    assert len(first.data) == 20 and first.has_more is True
    assert [m.id for m in first.data] == ids[::-1][:20]
    assert [m.id for m in client.beta.threads.messages.list(thread_id)] == ids[::-1]  # SDK turns pages


def test_auto_pagination_asc_small_pages(client: openai.OpenAI, thread_and_ids: ThreadIds) -> None:
    thread_id, ids = thread_and_ids
    assert [m.id for m in client.beta.threads.messages.list(thread_id, order="asc", limit=7)] == ids


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_after_cursor(client: openai.OpenAI, thread_and_ids: ThreadIds, order: str) -> None:
    thread_id, ids = thread_and_ids
    ordered = ids if order == "asc" else ids[::-1]
    got = [
        m.id for m in client.beta.threads.messages.list(thread_id, order=order, after=ordered[9], limit=10)
    ]
    assert got == ordered[10:]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_before_cursor_is_the_page_just_before_it(
    client: openai.OpenAI, thread_and_ids: ThreadIds, order: str
) -> None:
    thread_id, ids = thread_and_ids
    ordered = ids if order == "asc" else ids[::-1]
    page = client.beta.threads.messages.list(thread_id, order=order, before=ordered[30], limit=8)
    assert [m.id for m in page.data] == ordered[22:30] and page.has_more  # more lie before it
    assert (page.first_id, page.last_id) == (ordered[22], ordered[29])
    # Walking back page by page with before=<first id> reaches the start, each object once.
    seen = [m.id for m in page.data]
    while page.has_more:
        page = client.beta.threads.messages.list(thread_id, order=order, before=seen[0], limit=8)
        seen = [m.id for m in page.data] + seen
    assert seen == ordered[:30]
    assert page.first_id == ordered[0]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_after_and_before_together_auto_paginate_between_them(
    client: openai.OpenAI, thread_and_ids: ThreadIds, order: str
) -> None:
    thread_id, ids = thread_and_ids
    ordered = ids if order == "asc" else ids[::-1]
    page = client.beta.threads.messages.list(thread_id, order=order, after=ordered[4], before=ordered[9])
    assert [m.id for m in page.data] == ordered[5:9] and page.has_more is False
    assert (page.first_id, page.last_id) == (ordered[5], ordered[8])
    # Auto-pagination keeps `before` and adds `after=<last id>`: every object between the two, once.
    small = client.beta.threads.messages.list(thread_id, order=order, after=ordered[2], before=ordered[30],
                                              limit=4)
    assert [m.id for m in small] == ordered[3:30]


def test_unknown_cursor_is_400(client: openai.OpenAI, thread_and_ids: ThreadIds) -> None:
    thread_id, _ = thread_and_ids
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.threads.messages.list(thread_id, after="msg_unknown")
    assert raised.value.param == "after"  # type: ignore[attr-defined]


def test_assistants_and_runs_paginate_too(client: openai.OpenAI) -> None:
    assistant_ids = [client.beta.assistants.create(model="m", name=f"page-{i}").id for i in range(23)]
    newest = [a.id for a in client.beta.assistants.list(limit=23).data]  # one page (others exist)
    assert newest == assistant_ids[::-1]
    listed = [a.id for a in client.beta.assistants.list(order="asc", after=assistant_ids[0], limit=5)]
    assert listed[:22] == assistant_ids[1:]
    before = client.beta.assistants.list(order="asc", before=assistant_ids[10], limit=3)
    assert [a.id for a in before.data] == assistant_ids[7:10] and before.has_more

    thread = client.beta.threads.create()
    run_ids = []
    for _ in range(22):
        run = client.beta.threads.runs.create(thread.id, assistant_id=assistant_ids[0])
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
        run_ids.append(run.id)
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == run_ids[::-1]
    assert [r.id for r in client.beta.threads.runs.list(thread.id, order="asc", limit=5)] == run_ids
    before = client.beta.threads.runs.list(thread.id, before=run_ids[2], limit=5)  # newest first
    assert [r.id for r in before.data] == run_ids[7:2:-1] and before.has_more
    first = client.beta.threads.runs.list(thread.id, order="asc", before=run_ids[2], limit=5)
    assert [r.id for r in first.data] == run_ids[:2] and first.has_more is False
