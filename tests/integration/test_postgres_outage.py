"""A PostgreSQL server that goes away or goes silent: requests answer 503 in the OpenAI envelope
(`x-should-retry: true`) instead of hanging, nothing is half-written, and service resumes by itself.

The store server reaches its own fresh database through a TCP proxy the test can cut or silence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from tests.integration.rows import count_all
from tests.pgdatabase import fresh_database, terminate_connections
from tests.serverproc import ServerProcess
from tests.tcpproxy import TcpProxy

STATEMENT_TIMEOUT = 2  # seconds; the client gives up 5 s after it (see store.database)


@pytest.fixture(scope="module")
def outage() -> Iterator[tuple[str, TcpProxy]]:
    with fresh_database("outage") as url:
        parsed = sa.make_url(url)
        proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        try:
            yield url, proxy
        finally:
            proxy.close()


@pytest.fixture(scope="module")
def server(outage: tuple[str, TcpProxy], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    url, proxy = outage
    via_proxy = sa.make_url(url).set(port=proxy.port).render_as_string(hide_password=False)
    with ServerProcess(tmp_path_factory.mktemp("outage-data"), "--no-model", "--db", via_proxy,
                       "--db-pool-timeout", "2", "--db-statement-timeout", str(STATEMENT_TIMEOUT)) as server:
        yield server


@pytest.fixture()
def proxy(outage: tuple[str, TcpProxy]) -> Iterator[TcpProxy]:
    yield outage[1]
    outage[1].restore()


def http(server: ServerProcess) -> httpx.Client:
    # The timeout only keeps a broken server from hanging the suite: the answers come well before it.
    return httpx.Client(base_url=server.base_url + "/v1", timeout=60,
                        headers={"Content-Type": "application/json"})


def assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"error": {"message": "The database is unavailable; try again shortly.",
                                         "type": "server_error", "param": None,
                                         "code": "service_unavailable"}}
    assert response.headers["x-should-retry"] == "true"


def test_terminated_backend_connections_are_replaced_unseen(server: ServerProcess) -> None:
    with http(server) as client:
        assert client.post("/threads", json={}).status_code == 200
        assert asyncio.run(terminate_connections(server.db_url)) >= 1  # the pool's and the LISTEN one
        for _ in range(5):  # every pooled connection is dead: each checkout notices and reconnects
            assert client.post("/threads", json={}).status_code == 200


def test_a_database_that_went_away_is_503_then_serves_again(server: ServerProcess, proxy: TcpProxy) -> None:
    with http(server) as client:
        thread = client.post("/threads", json={}).json()
        before = count_all(server)
        proxy.cut()
        assert_503(client.post("/threads", json={"messages": [{"role": "user", "content": "x"}]}))
        assert_503(client.post(f"/threads/{thread['id']}/messages", json={"role": "user", "content": "y"}))
        assert_503(client.get(f"/threads/{thread['id']}/messages"))
        proxy.restore()
        assert count_all(server) == before  # nothing was half-written
        assert client.get(f"/threads/{thread['id']}").json() == thread
        assert client.post(f"/threads/{thread['id']}/messages",
                           json={"role": "user", "content": "z"}).status_code == 200


def test_a_silent_database_is_503_after_the_timeout(server: ServerProcess, proxy: TcpProxy) -> None:
    with http(server) as client:
        assert client.post("/threads", json={}).status_code == 200
        before = count_all(server)
        proxy.black_hole()
        assert_503(client.post("/threads", json={"metadata": {"k": "v"}}))
        proxy.restore()
        assert count_all(server) == before
        assert client.post("/threads", json={}).status_code == 200

