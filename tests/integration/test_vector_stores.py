"""client.vector_stores through the official SDK, on the bundled embedding model: stores, files, batches,
search with filters, and every bad input (a 4xx, or a `failed` file with its reason)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types import VectorStore

from tests.integration.rows import count_rows
from tests.serverproc import ServerProcess

# Made-up facts, so nothing but retrieval can know them.
FACTS = {
    "zorblat.md": "# The Zorblat festival\nThe Zorblat festival is held every March in Quexville. Dancers "
                  "wear copper masks and the town bakes a forty-foot plum loaf.",
    "trivex.txt": "Trivex engines run on compressed seaweed. The first Trivex engine was built by Ilsa "
                  "Marrow in 1887 in the harbour town of Pellbrook.",
    "glimmer.html": "<html><head><style>p{}</style></head><body><h1>Glimmerfish</h1><p>Glimmerfish live only "
                    "in Lake Ondry and glow violet when the water is colder than six degrees.</p>"
                    "</body></html>",
}


def _upload(client: openai.OpenAI, name: str, data: bytes) -> str:
    return client.files.create(file=(name, data), purpose="assistants").id


def create_store_and_poll(client: openai.OpenAI, timeout: float = 120, **kwargs: object) -> VectorStore:
    """The SDK has no `vector_stores.create_and_poll` (only for files and batches): poll as it would."""
    store = client.vector_stores.create(**kwargs)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while store.status == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.1)
        store = client.vector_stores.retrieve(store.id)
    return store


@pytest.fixture(scope="module")
def corpus(store_server: ServerProcess) -> tuple[str, dict[str, str]]:
    client = openai.OpenAI(base_url=store_server.base_url + "/v1", api_key="test", max_retries=0)
    ids = {name: _upload(client, name, text.encode()) for name, text in FACTS.items()}
    store = create_store_and_poll(client, name="facts", file_ids=list(ids.values()))
    assert store.status == "completed"
    return store.id, ids


def test_create_and_poll_ingests_every_file(client: openai.OpenAI, corpus: tuple[str, dict[str,
                                                                                           str]]) -> None:
    store_id, ids = corpus
    store = client.vector_stores.retrieve(store_id)
    assert (store.name, store.object, store.status) == ("facts", "vector_store", "completed")
    assert store.file_counts.completed == store.file_counts.total == 3
    assert store.usage_bytes > 0
    files = list(client.vector_stores.files.list(store_id, filter="completed"))
    assert {item.id for item in files} == set(ids.values())
    assert all(item.chunking_strategy.static.max_chunk_size_tokens == 800 for item in files)  # type: ignore[union-attr]
    assert sum(item.usage_bytes for item in files) == store.usage_bytes
    assert store_id in {item.id for item in client.vector_stores.list()}


@pytest.mark.parametrize(("query", "name", "words"), [
    ("Where is the Zorblat festival held?", "zorblat.md", "Quexville"),
    ("who built the first seaweed engine", "trivex.txt", "Ilsa Marrow"),
    ("Which lake do violet glowing fish live in?", "glimmer.html", "Lake Ondry"),
])
def test_search_returns_the_chunk_that_answers_first(client: openai.OpenAI, corpus: tuple[str, dict[str,
                                                                                                    str]],
                                                      query: str, name: str, words: str) -> None:
    store_id, ids = corpus
    results = client.vector_stores.search(store_id, query=query).data
    assert results[0].file_id == ids[name] and results[0].filename == name
    assert words in results[0].content[0].text
    scores = [result.score for result in results]
    assert scores == sorted(scores, reverse=True) and all(0 <= score <= 1 for score in scores)
    assert "<style>" not in "".join(result.content[0].text for result in results)  # HTML came out as text


def test_search_is_deterministic_and_honours_max_results_and_threshold(
        client: openai.OpenAI, corpus: tuple[str, dict[str, str]]) -> None:
    store_id, _ = corpus
    first = client.vector_stores.search(store_id, query="engine festival fish")
    again = client.vector_stores.search(store_id, query="engine festival fish")
    assert [(r.file_id, r.score) for r in first.data] == [(r.file_id, r.score) for r in again.data]
    assert len(client.vector_stores.search(store_id, query="engine", max_num_results=1).data) == 1
    top = first.data[0].score
    above = client.vector_stores.search(store_id, query="engine festival fish",
                                        ranking_options={"score_threshold": top})
    assert above.data and all(result.score >= top for result in above.data)
    assert len(above.data) < len(first.data)


def test_attribute_filters_select_files(client: openai.OpenAI, store_server: ServerProcess) -> None:
    store = client.vector_stores.create(name="filtered")
    years = {"a.txt": 2021, "b.txt": 2023, "c.txt": 2025}
    for name, year in years.items():
        file_id = _upload(client, name,
                          f"Report {name}: the moss harvest in year {year} was plentiful.".encode())
        client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file_id,
                                                   attributes={"year": year,
                                                               "team": name[0]}, poll_interval_ms=100)

    def names(filters: dict) -> set[str]:
        return {result.filename for result in client.vector_stores.search(store.id, query="moss harvest",
                                                                          filters=filters).data}

    assert names({"type": "gte", "key": "year", "value": 2023}) == {"b.txt", "c.txt"}
    assert names({"type": "eq", "key": "team", "value": "a"}) == {"a.txt"}
    assert names({"type": "in", "key": "team", "value": ["a", "c"]}) == {"a.txt", "c.txt"}
    assert names({"type": "or", "filters": [{"type": "eq", "key": "team", "value": "a"},
                                            {"type": "and", "filters": [{"type": "gt", "key": "year",
                                                                         "value": 2022},
                                                                        {"type": "ne", "key": "team",
                                                                         "value": "c"}]}]}
                 ) == {"a.txt", "b.txt"}
    assert names({"type": "eq", "key": "missing", "value": 1}) == set()
    result = client.vector_stores.search(store.id, query="moss", filters={"type": "eq", "key": "team",
                                                                          "value": "b"})
    updated = client.vector_stores.files.update(result.data[0].file_id, vector_store_id=store.id,
                                                attributes={"team": "z"})
    assert updated.attributes == {"team": "z"}
    assert names({"type": "eq", "key": "team", "value": "b"}) == set()


def test_upload_and_poll_fails_bad_files_with_their_reason(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="bad files")
    cases = {
        "junk.txt": (b"\x00\x9f\x92\x96binary\xff\xfe", "invalid_file"),
        "empty.md": (b"", "invalid_file"),
        "broken.pdf": (b"%PDF-1.4 not really a pdf", "invalid_file"),
        "broken.json": (b"{not json", "invalid_file"),
        "tool.exe": (b"MZ\x90\x00", "unsupported_file"),
    }
    for name, (data, code) in cases.items():
        result = client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=(name, data),
                                                            poll_interval_ms=100)
        assert result.status == "failed", name
        assert result.last_error is not None and result.last_error.code == code, (name, result.last_error)
    good = client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("ok.txt", b"fine text"),
                                                      poll_interval_ms=100)
    assert good.status == "completed"  # failures never block the others
    after = client.vector_stores.retrieve(store.id)
    assert (after.status, after.file_counts.failed, after.file_counts.completed) == ("completed", 5, 1)
    assert {item.id for item in client.vector_stores.files.list(store.id, filter="failed")} != set()


def test_docx_files_are_read(client: openai.OpenAI) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("The Velloran treaty was signed on a floating barge in 1652.")
    buffer = io.BytesIO()
    document.save(buffer)
    store = client.vector_stores.create(name="docx")
    result = client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("treaty.docx",
                                                                                        buffer.getvalue()),
                                                        poll_interval_ms=100)
    assert result.status == "completed", result.last_error
    assert "floating barge" in client.vector_stores.search(store.id,
                                                           query="Velloran treaty").data[0].content[0].text
    content = client.vector_stores.files.content(result.id, vector_store_id=store.id)
    assert "floating barge" in "".join(part.text for part in content)  # type: ignore[union-attr]


def test_file_batches(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="batches")
    ids = [_upload(client, f"batch{index}.txt",
                   f"Batch document {index} about kelp.".encode()) for index in range(3)]
    batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=ids,
                                                              attributes={"source": "batch"},
                                                              poll_interval_ms=100)
    assert (batch.object, batch.status, batch.file_counts.completed, batch.file_counts.total) == (
        "vector_store.files_batch", "completed", 3, 3)
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert {item.id for item in listed} == set(ids)
    assert all(item.attributes == {"source": "batch"} for item in listed)
    assert not list(client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id,
                                                                 filter="failed"))
    # Cancelling a finished batch changes nothing.
    assert client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id).status == "completed"
    per_file = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, files=[{"file_id": ids[0], "attributes": {"source": "one"},
                                          "chunking_strategy": {"type": "static", "static": {
                                              "max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50}}}],
        poll_interval_ms=100)
    assert per_file.file_counts.completed == 1
    again = client.vector_stores.files.retrieve(ids[0], vector_store_id=store.id)
    assert again.attributes == {"source": "one"}
    assert again.chunking_strategy.static.max_chunk_size_tokens == 100  # type: ignore[union-attr]


def test_deleting_a_file_in_use_drops_it_from_its_stores(client: openai.OpenAI) -> None:
    file_id = _upload(client, "doomed.txt", b"The Parnassine lighthouse is painted teal.")
    store = create_store_and_poll(client, name="doomed", file_ids=[file_id])
    assert client.vector_stores.search(store.id, query="Parnassine lighthouse").data
    client.files.delete(file_id)
    after = client.vector_stores.retrieve(store.id)
    assert after.file_counts.total == 0 and after.usage_bytes == 0
    assert client.vector_stores.search(store.id, query="Parnassine lighthouse").data == []
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)


def test_removing_a_file_from_a_store_keeps_the_file(client: openai.OpenAI) -> None:
    file_id = _upload(client, "kept.txt", b"Orrery gears are cut from walnut.")
    store = create_store_and_poll(client, name="kept", file_ids=[file_id])
    deleted = client.vector_stores.files.delete(file_id, vector_store_id=store.id)
    assert (deleted.deleted, deleted.object) == (True, "vector_store.file.deleted")
    assert client.files.retrieve(file_id).id == file_id
    assert client.vector_stores.search(store.id, query="Orrery gears").data == []


def test_modify_expiry_and_delete(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="temp", metadata={"k": "v"},
                                        expires_after={"anchor": "last_active_at", "days": 7})
    assert store.expires_at == store.last_active_at + 7 * 86400
    updated = client.vector_stores.update(store.id, name="renamed", metadata={"k": "w"},
                                          expires_after={"anchor": "last_active_at", "days": 1})
    assert (updated.name, updated.metadata, updated.expires_at) == ("renamed", {"k": "w"},
                                                                    updated.last_active_at + 86400)
    deleted = client.vector_stores.delete(store.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (store.id, True, "vector_store.deleted")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)


@pytest.fixture()
def http(store_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=store_server.base_url + "/v1",
                      headers={"Authorization": "Bearer test", "OpenAI-Beta": "assistants=v2"}) as client:
        yield client


BAD_STRATEGIES = [
    {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 401}},
    {"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}},
    {"type": "static", "static": {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0}},
    {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": -1}},
    {"type": "static"},
    {"type": "semantic"},
]


@pytest.mark.parametrize("strategy", BAD_STRATEGIES)
def test_malformed_chunking_strategies_are_400_and_write_nothing(http: httpx.Client,
                                                                 store_server: ServerProcess,
                                                                  strategy: dict) -> None:
    before = count_rows(store_server, "vector_stores")
    response = http.post("/vector_stores", json={"name": "x", "chunking_strategy": strategy})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith("chunking_strategy")
    assert count_rows(store_server, "vector_stores") == before


def test_unknown_ids_are_404_and_write_nothing(http: httpx.Client, client: openai.OpenAI,
                                               store_server: ServerProcess) -> None:
    before = count_rows(store_server, "vector_stores")
    response = http.post("/vector_stores", json={"file_ids": ["file-nope"]})
    assert response.status_code == 404 and response.json()["error"]["param"] == "file_ids"
    assert count_rows(store_server, "vector_stores") == before
    store = client.vector_stores.create(name="ids")
    for method, path, body in [
        ("GET", "/vector_stores/vs_nope", None),
        ("POST", "/vector_stores/vs_nope/search", {"query": "x"}),
        ("POST", f"/vector_stores/{store.id}/files", {"file_id": "file-nope"}),
        ("GET", f"/vector_stores/{store.id}/files/file-nope", None),
        ("DELETE", f"/vector_stores/{store.id}/files/file-nope", None),
        ("GET", f"/vector_stores/{store.id}/file_batches/vsfb_nope", None),
        ("POST", f"/vector_stores/{store.id}/file_batches", {"file_ids": ["file-nope"]}),
    ]:
        response = http.request(method, path, json=body)
        assert response.status_code == 404, (path, response.text)
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0


@pytest.mark.parametrize(("body", "param"), [
    ({"query": ""}, "query"),
    ({"query": []}, "query"),
    ({"query": "x", "max_num_results": 0}, "max_num_results"),
    ({"query": "x", "max_num_results": 51}, "max_num_results"),
    ({"query": "x", "ranking_options": {"score_threshold": 1.5}}, "ranking_options.score_threshold"),
    ({"query": "x", "ranking_options": {"ranker": "best"}}, "ranking_options.ranker"),
    ({"query": "x", "filters": {"type": "eq", "key": "k"}}, "filters"),
    ({"query": "x", "filters": {"type": "in", "key": "k", "value": "a"}}, "filters.value"),
    ({"query": "x", "filters": {"type": "and", "filters": [{"type": "xx", "key": "k", "value": 1}]}},
     "filters.filters[0]"),
])
def test_bad_searches_are_400(http: httpx.Client, client: openai.OpenAI, body: dict, param: str) -> None:
    store = client.vector_stores.create(name="search-errors")
    response = http.post(f"/vector_stores/{store.id}/search", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(("body", "param"), [
    ({"file_ids": ["f"], "files": [{"file_id": "f"}]}, "file_ids"),
    ({}, "file_ids"),
    ({"file_ids": []}, "file_ids"),
])
def test_bad_batches_are_400(http: httpx.Client, client: openai.OpenAI, body: dict, param: str) -> None:
    store = client.vector_stores.create(name="batch-errors")
    response = http.post(f"/vector_stores/{store.id}/file_batches", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_bad_attributes_are_400(http: httpx.Client, client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="attr-errors")
    file_id = _upload(client, "attr.txt", b"a")
    for attributes in ({f"k{index}": 1 for index in range(17)}, {"k": "v" * 513}, {"k": [1]}, {"": 1}):
        response = http.post(f"/vector_stores/{store.id}/files", json={"file_id": file_id,
                                                                       "attributes": attributes})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"].startswith("attributes")
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0
