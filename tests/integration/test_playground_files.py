"""The playground's files as HTTP serves them (types, caching, CSP, auth), and GET /v1/threads.

The page in a browser is tested in test_playground_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from playwright.sync_api import BrowserContext

from tests.integration.browser import chromium, distinct_colours
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the Assistants API in the SDK

FILES = [("/playground", "text/html; charset=utf-8"),
         ("/playground/playground.js", "text/javascript; charset=utf-8"),
         ("/playground/playground.css", "text/css; charset=utf-8")]
KEY = "sk-playground-0123456789"


@pytest.mark.parametrize(("path", "content_type"), FILES)
def test_files_have_their_type_and_revalidate(store_server: ServerProcess, path: str,
                                              content_type: str) -> None:
    url = store_server.base_url + path
    first = httpx.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == content_type
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["x-content-type-options"] == "nosniff"
    etag = first.headers["etag"]
    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    stale = httpx.get(url, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_page_refers_only_to_its_own_files(store_server: ServerProcess) -> None:
    page = httpx.get(store_server.base_url + "/playground")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe" not in csp
    assert 'src="/playground/playground.js"' in page.text and 'href="/playground/playground.css"' in page.text
    assert "http://" not in page.text and "https://" not in page.text
    script = httpx.get(store_server.base_url + "/playground/playground.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script
    assert "http://" not in script and "https://" not in script


def test_root_leads_to_the_page_and_unknown_files_are_404(store_server: ServerProcess) -> None:
    root = httpx.get(store_server.base_url + "/")
    assert root.status_code == 302 and root.headers["location"] == "/playground"
    missing = httpx.get(store_server.base_url + "/playground/secrets.txt")
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("playground-auth"), "--no-model", "--api-key", KEY) as server:
        yield server


def test_page_opens_without_a_key_but_the_api_needs_one(keyed_server: ServerProcess) -> None:
    for path, _ in FILES:
        assert httpx.get(keyed_server.base_url + path).status_code == 200
    assert httpx.get(keyed_server.base_url + "/v1/threads").status_code == 401


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


def test_the_page_asks_for_the_key_once_per_tab(keyed_server: ServerProcess, browser: BrowserContext) -> None:
    client = openai.OpenAI(base_url=keyed_server.base_url + "/v1", api_key=KEY, max_retries=0)
    assistant = client.beta.assistants.create(model="default", name="Keyed")
    page = browser.new_page()
    sent: list[str | None] = []
    page.on("request", lambda request: sent.append(request.headers.get("authorization"))
            if "/v1/assistants" in request.url else None)
    page.goto(keyed_server.base_url + "/playground")
    page.wait_for_selector("#key-dialog[open]")
    page.fill("#key-dialog [name=key]", KEY)
    page.click("#key-dialog button[type=submit]")
    page.wait_for_selector(f"#assistant-list button:has-text('{assistant.id}')")
    assert page.evaluate("() => sessionStorage.getItem('assistants.playground.key')") == KEY
    assert sent[0] is None and sent[-1] == f"Bearer {KEY}"  # asked on the 401, then sent

    page.reload()  # the same tab keeps it: no second question
    page.wait_for_selector(f"#assistant-list button:has-text('{assistant.id}')")
    assert not page.is_visible("#key-dialog")
    fresh = browser.new_page()  # another tab asks again (sessionStorage is per tab)
    fresh.goto(keyed_server.base_url + "/playground")
    fresh.wait_for_selector("#key-dialog[open]")
    page.close()
    fresh.close()


def test_threads_list_newest_first_with_cursors(client: openai.OpenAI, store_server: ServerProcess) -> None:
    made = [client.beta.threads.create(metadata={"n": str(n)}).id for n in range(5)]
    http = httpx.Client(base_url=store_server.base_url, timeout=10)
    first = http.get("/v1/threads", params={"limit": 3}).json()
    assert first["object"] == "list" and first["has_more"] is True
    assert [t["id"] for t in first["data"]] == made[::-1][:3]
    assert first["first_id"] == made[-1] and first["last_id"] == made[-3]
    rest = http.get("/v1/threads", params={"limit": 2, "after": first["last_id"]}).json()
    assert [t["id"] for t in rest["data"]] == made[::-1][3:5]
    ascending = http.get("/v1/threads", params={"order": "asc", "after": made[0], "limit": 4}).json()
    assert [t["id"] for t in ascending["data"]] == made[1:]
    client.beta.threads.delete(made[2])
    assert made[2] not in {t["id"] for t in http.get("/v1/threads", params={"limit": 100}).json()["data"]}
    for params in ({"limit": 0}, {"order": "sideways"}, {"after": "thread_nope"}):
        bad = http.get("/v1/threads", params=params)
        assert bad.status_code == 400 and bad.json()["error"]["param"] in params


def test_the_blank_screenshot_check_can_fail(browser: BrowserContext) -> None:
    """The browser tests call a view non-blank when its screenshot has more than 8 colours."""
    page = browser.new_page()
    page.set_content("<body style='margin:0;background:#fff'></body>")
    assert distinct_colours(page.screenshot()) == 1
    page.set_content("<body style='background:#fff'><h1>assistants</h1><p style='color:#2f6fdf'>a</p></body>")
    assert distinct_colours(page.screenshot()) > 8
    page.close()
