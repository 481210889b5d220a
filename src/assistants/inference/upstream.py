"""One remote OpenAI-compatible engine over HTTP: what it serves, its tokenizer, its completion streams.

Speaks the common subset of llama.cpp's `llama-server`, vLLM and another `assistants` server:
`GET /v1/models`, streamed `POST /v1/completions`, and where present llama-server's `GET /props`
(chat template, BOS/EOS, context, slots), `POST /tokenize` (`{"content"}` -> `{"tokens"}`),
`POST /detokenize` (`{"tokens"}` -> `{"content"}`) and `GET /health`, and `assistants`' own
`POST /forget_cache`. The URL may be given with or without its `/v1` suffix. Every failure to reach
the engine (refused, reset, timeout, a 5xx, a stream cut short) is `UpstreamDown`: the router takes
the engine out and the caller retries elsewhere; a 4xx is the request's fault and says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("assistants.inference.upstream")

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0
"""Between two streamed tokens; a prompt of the whole context on a slow CPU engine stays under it."""


class UpstreamDown(Exception):
    """The engine could not be reached or broke off: take it out and retry the request elsewhere."""


class UpstreamRejected(Exception):
    """The engine answered 4xx: the request itself is wrong (same answer from any engine)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RemoteModel:
    """What an engine told us about the model it serves (llama-server's /props and /v1/models)."""

    model_id: str
    ctx_size: int
    slots: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    grammar: bool
    """It takes llama-server's `grammar` (GBNF) on /v1/completions (llama-server and `assistants` do)."""
    tokenizer: bool
    """It answers llama-server's `POST /tokenize`."""
    meta: Mapping[str, int]
    """/v1/models `meta` (llama-server's: n_ctx_train, n_vocab, n_embd, n_params, size), when given."""


def root_url(url: str) -> str:
    base = url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class Upstream:
    """HTTP to one engine: an async client for streams and probes, a sync one for `tokenize`, which
    callers run off the event loop (prompt truncation tokenizes in a worker thread)."""

    def __init__(self, url: str, *, api_key: str | None = None, model: str | None = None) -> None:
        self.url = root_url(url)
        self.model = model
        """The model id to ask for (`--engine-model`); None: the first one /v1/models lists."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self._client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout, limits=limits)
        self._sync = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()
        self._sync.close()

    async def describe(self) -> RemoteModel:
        """Ask the engine what it serves; `UpstreamDown` if it does not answer."""
        models = (await self._get("/v1/models")).get("data") or []
        listed = next((m for m in models if m.get("id") == self.model), models[0] if models else {})
        model_id = self.model or str(listed.get("id") or "remote")
        meta = {k: int(v) for k, v in (listed.get("meta") or {}).items() if isinstance(v, int | float)}
        try:
            props = await self._get("/props")
        except (UpstreamDown, UpstreamRejected):
            props = {}  # vLLM and OpenAI itself have no /props
        settings = props.get("default_generation_settings") or {}
        ctx_size = int(settings.get("n_ctx") or listed.get("max_model_len") or meta.get("n_ctx")
                       or meta.get("n_ctx_train") or 4096)
        return RemoteModel(
            model_id=model_id, ctx_size=ctx_size, slots=int(props.get("total_slots") or 0),
            chat_template=props.get("chat_template") or None, bos_token=str(props.get("bos_token") or ""),
            eos_token=str(props.get("eos_token") or ""), grammar=bool(props),
            tokenizer=await self._has_tokenizer(), meta=meta)

    async def _has_tokenizer(self) -> bool:
        try:
            response = await self._client.post("/tokenize", json={"content": "a"})
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and isinstance(_json(response).get("tokens"), list)

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        """The engine's own token ids for `text` (blocking: call it off the event loop)."""
        body = {"content": text, "add_special": add_special, "parse_special": parse_special}
        try:
            response = self._sync.post("/tokenize", json=body)
        except httpx.HTTPError as exc:
            raise UpstreamDown(f"{self.url}/tokenize: {exc!r}") from exc
        _raise_for(response)
        return [int(t) for t in _json(response)["tokens"]]

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The engine's own text for token ids (llama-server's `POST /detokenize`; blocking)."""
        try:
            response = self._sync.post("/detokenize", json={"tokens": list(tokens)})
        except httpx.HTTPError as exc:
            raise UpstreamDown(f"{self.url}/detokenize: {exc!r}") from exc
        _raise_for(response)
        content = _json(response).get("content")
        if not isinstance(content, str):
            raise UpstreamRejected(response.status_code, f"{self.url}/detokenize answered no `content`")
        return content

    async def forget_cache(self, key: str) -> None:
        """Ask the engine to drop the KV it keeps under `key` (`assistants`' `POST /forget_cache`).
        An engine without that route (llama-server, vLLM: no keyed cache to drop) answers 404."""
        try:
            response = await self._client.post("/forget_cache", json={"prompt_cache_key": key},
                                               timeout=CONNECT_TIMEOUT)
        except httpx.HTTPError as exc:
            raise UpstreamDown(f"{self.url}/forget_cache: {exc!r}") from exc
        _raise_for(response)

    async def healthy(self) -> bool:
        try:
            response = await self._client.get("/health", timeout=CONNECT_TIMEOUT)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def stream_completion(self, body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        """The chunks of a streamed `/v1/completions`. Leaving the iteration early (`aclose`, a
        cancelled task) closes the HTTP stream, which is how the engine learns to stop decoding."""
        payload = {**body, "model": self.model, "stream": True,
                   "stream_options": {"include_usage": True}}
        try:
            async with self._client.stream("POST", "/v1/completions", json=payload) as response:
                if response.status_code != 200:
                    await response.aread()
                    _raise_for(response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:"):].strip()
                    if data == "[DONE]":
                        return
                    chunk = json.loads(data)
                    if "error" in chunk:
                        raise UpstreamDown(f"{self.url}: the engine failed mid-stream: {chunk['error']}")
                    yield chunk
        except httpx.HTTPError as exc:
            raise UpstreamDown(f"{self.url}/v1/completions: {exc!r}") from exc
        raise UpstreamDown(f"{self.url}/v1/completions: the stream ended without [DONE]")

    async def _get(self, path: str) -> dict[str, Any]:
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise UpstreamDown(f"{self.url}{path}: {exc!r}") from exc
        _raise_for(response)
        return _json(response)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    error = _json(response).get("error")
    message = error.get("message") if isinstance(error, dict) else None
    text = message or response.text[:500]
    if response.status_code >= 500 or response.status_code == 429:
        raise UpstreamDown(f"{response.request.url}: {response.status_code} {text}")
    raise UpstreamRejected(response.status_code, str(text))
