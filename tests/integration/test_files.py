"""/v1/files through the official SDK: upload, list, retrieve, content, delete, and every bad upload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.rows import count_rows
from tests.serverproc import ServerProcess

MAX_FILE_BYTES = 2000


def test_upload_retrieve_content_list_delete(client: openai.OpenAI, store_server: ServerProcess) -> None:
    data = b"The quokka census of Brindlewick counted 4,711 quokkas.\n" * 3
    uploaded = client.files.create(file=("census.txt", data), purpose="assistants")
    assert uploaded.id.startswith("file-") and uploaded.object == "file"
    assert (uploaded.bytes, uploaded.filename, uploaded.purpose, uploaded.status) == (
        len(data), "census.txt", "assistants", "processed")
    assert client.files.retrieve(uploaded.id) == uploaded
    assert client.files.content(uploaded.id).read() == data
    other = client.files.create(file=("batch.jsonl", b"{}\n"), purpose="batch")
    listed = [item.id for item in client.files.list(purpose="assistants")]
    assert uploaded.id in listed and other.id not in listed
    assert {uploaded.id, other.id} <= {item.id for item in client.files.list()}

    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (uploaded.id, True, "file")
    assert not (store_server.data_dir / "files" / uploaded.id).exists()
    for call in (client.files.retrieve, client.files.content, client.files.delete):
        with pytest.raises(openai.NotFoundError):
            call(uploaded.id)


def test_expires_after_sets_expires_at(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("x.txt", b"x"), purpose="user_data",
                                   expires_after={"anchor": "created_at", "seconds": 3600})
    assert uploaded.expires_at == uploaded.created_at + 3600


def test_a_directory_in_the_filename_is_dropped(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("../../etc/notes.md", b"# hi"), purpose="assistants")
    assert uploaded.filename == "notes.md"


def test_list_pages_with_a_cursor(client: openai.OpenAI) -> None:
    ids = [client.files.create(file=(f"p{index}.txt", b"p"), purpose="evals").id for index in range(3)]
    first = client.files.list(purpose="evals", limit=2, order="asc")
    assert first.has_more and [item.id for item in first.data] == ids[:2]
    assert [item.id for item in client.files.list(purpose="evals", limit=2, order="asc",
                                                  after=ids[1]).data] == ids[2:]
    assert [item.id for item in client.files.list(purpose="evals", limit=2, order="asc")] == ids


@pytest.fixture()
def http(store_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=store_server.base_url, headers={"Authorization": "Bearer test"}) as client:
        yield client


@pytest.mark.parametrize(("fields", "files", "param"), [
    ({}, {"file": ("a.txt", b"a")}, "purpose"),
    ({"purpose": "homework"}, {"file": ("a.txt", b"a")}, "purpose"),
    ({"purpose": "assistants"}, None, "file"),
    ({"purpose": "assistants", "expires_after[anchor]": "created_at", "expires_after[seconds]": "10"},
     {"file": ("a.txt", b"a")}, "expires_after.seconds"),
    ({"purpose": "assistants", "expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"},
     {"file": ("a.txt", b"a")}, "expires_after.anchor"),
])
def test_bad_uploads_are_400_and_store_nothing(http: httpx.Client, store_server: ServerProcess, fields: dict,
                                                files: dict | None, param: str) -> None:
    before = count_rows(store_server, "files")
    response = http.post("/v1/files", data=fields, files=files or {"other": ("b.txt", b"b")})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert count_rows(store_server, "files") == before
    assert not list((store_server.data_dir / "files" / "incoming").iterdir())


def test_a_body_that_is_not_multipart_is_400(http: httpx.Client) -> None:
    response = http.post("/v1/files", json={"purpose": "assistants"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("small-files"), "--no-model",
                       "--max-file-bytes", str(MAX_FILE_BYTES)) as server:
        yield server


@pytest.mark.parametrize("size", [MAX_FILE_BYTES + 1, 200_000])
def test_an_oversize_upload_is_413_and_leaves_nothing(small_server: ServerProcess, size: int) -> None:
    client = openai.OpenAI(base_url=small_server.base_url + "/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.APIStatusError) as caught:
        client.files.create(file=("big.txt", b"x" * size), purpose="assistants")
    assert caught.value.status_code == 413
    assert count_rows(small_server, "files") == 0
    files_dir: Path = small_server.data_dir / "files"
    assert [entry.name for entry in files_dir.iterdir()] == ["incoming"]
    assert not list((files_dir / "incoming").iterdir())
    exact = client.files.create(file=("fits.txt", b"x" * MAX_FILE_BYTES), purpose="assistants")
    assert exact.bytes == MAX_FILE_BYTES
    client.files.delete(exact.id)
