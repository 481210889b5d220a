"""Wire types of /v1/chat/completions and /v1/completions (reference §7), and their request checks.

Requests are lenient: fields the SDK may send that do not change the output (user, metadata, store,
service_tier, ...) are accepted and ignored. Fields that would change the output and that we cannot
honour yet are rejected by `unsupported_chat_fields` / `unsupported_completion_fields`, never ignored.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from assistants.errors import InvalidRequest

ChatFinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]

MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TEXT_PART_TYPES = frozenset({"text"})


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ChatMessageIn(msgspec.Struct, kw_only=True):
    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None
    function_call: dict[str, Any] | None = None


class _Sampling(msgspec.Struct, kw_only=True):
    model: str
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None


class ChatCompletionRequest(_Sampling, kw_only=True):
    messages: list[ChatMessageIn]
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None


class CompletionRequest(_Sampling, kw_only=True):
    prompt: str | list[Any]
    """One string, a list holding one string, or one prompt of token ids (`[1, 2]` or `[[1, 2]]`)."""
    grammar: str | None = None
    """llama-server's extension: a GBNF grammar (root rule `root`) the output follows. This is how
    another `assistants` server (`--engine openai`) passes structured outputs and forced tool calls."""
    top_k: int | None = None
    """llama-server's and vLLM's extension: sample among the k most likely tokens (0: no cut)."""
    prompt_cache_key: str | None = None
    """Whose prefix cache the prompt prefers and is kept under (as on chat/Responses: a thread id)."""
    logprobs: int | None = None
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = None


# -- responses -------------------------------------------------------------------------------------


class PromptTokensDetails(msgspec.Struct):
    cached_tokens: int = 0


class CompletionTokensDetails(msgspec.Struct):
    reasoning_tokens: int = 0


class CompletionUsage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = msgspec.field(default_factory=PromptTokensDetails)
    completion_tokens_details: CompletionTokensDetails = msgspec.field(
        default_factory=CompletionTokensDetails
    )

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> CompletionUsage:
        return cls(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens,
                   prompt_tokens_details=PromptTokensDetails(cached_tokens))


class ChatMessageOut(msgspec.Struct):
    content: str | None
    role: Literal["assistant"] = "assistant"
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    annotations: list[Any] = msgspec.field(default_factory=list)


class ChatChoice(msgspec.Struct):
    index: int
    message: ChatMessageOut
    finish_reason: ChatFinishReason
    logprobs: None = None


class Timings(msgspec.Struct):
    """llama-server's per-request speeds, which its Web UI shows (not part of OpenAI's API)."""

    prompt_n: int
    prompt_ms: float
    prompt_per_token_ms: float
    prompt_per_second: float
    predicted_n: int
    predicted_ms: float
    predicted_per_token_ms: float
    predicted_per_second: float
    cache_n: int = 0
    """Prompt tokens reused from the prefix KV cache (prompt_n counts only those evaluated)."""

    @classmethod
    def of(cls, prompt_n: int, prompt_ms: float, predicted_n: int, predicted_ms: float,
           cache_n: int = 0) -> Timings:
        def per_token(ms: float, n: int) -> float:
            return ms / n if n else 0.0

        def per_second(ms: float, n: int) -> float:
            return n * 1000.0 / ms if ms > 0 else 0.0

        # Rates from the rounded figures, so a client recomputing n * 1000 / ms gets the same number.
        prompt_ms, predicted_ms = round(prompt_ms, 3), round(predicted_ms, 3)
        return cls(prompt_n, prompt_ms, per_token(prompt_ms, prompt_n),
                   per_second(prompt_ms, prompt_n), predicted_n, predicted_ms,
                   per_token(predicted_ms, predicted_n), per_second(predicted_ms, predicted_n), cache_n)


class ChatCompletion(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[ChatChoice]
    usage: CompletionUsage
    object: Literal["chat.completion"] = "chat.completion"
    system_fingerprint: str | None = None
    service_tier: str | None = None
    timings: Timings | msgspec.UnsetType = msgspec.UNSET


class ChatDelta(msgspec.Struct, omit_defaults=True):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class ChatChunkChoice(msgspec.Struct):
    index: int
    delta: ChatDelta
    finish_reason: ChatFinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: CompletionUsage | None = None
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    system_fingerprint: str | None = None
    service_tier: str | None = None
    timings: Timings | msgspec.UnsetType = msgspec.UNSET
    """Only on the chunk that carries finish_reason (as llama-server does)."""


class CompletionChoice(msgspec.Struct):
    index: int
    text: str
    finish_reason: ChatFinishReason | None = None
    logprobs: None = None


class Completion(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None
    object: Literal["text_completion"] = "text_completion"
    system_fingerprint: str | None = None


# -- request checks ---------------------------------------------------------------


def _unsupported(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(
        f"{what} is not supported by this server yet.", param=param, code="unsupported_parameter"
    )


def _check_range(param: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise InvalidRequest(
            f"'{param}' must be between {low:g} and {high:g}, got {value}.", param=param, code="invalid_value"
        )


def check_sampling(request: _Sampling) -> None:
    _check_range("temperature", request.temperature, 0, 2)
    _check_range("top_p", request.top_p, 0, 1)
    _check_range("frequency_penalty", request.frequency_penalty, -2, 2)
    _check_range("presence_penalty", request.presence_penalty, -2, 2)
    if request.n is not None and request.n != 1:
        raise InvalidRequest("Only n=1 is supported.", param="n", code="invalid_value")
    if isinstance(request.stop, list):
        if len(request.stop) > 4:
            raise InvalidRequest("'stop' may hold at most 4 sequences.", param="stop", code="invalid_value")
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(request, name):
            raise _unsupported(name, f"A non-zero '{name}'")
    check_logit_bias(request.logit_bias)
    if request.stream_options is not None and not request.stream:
        raise InvalidRequest(
            "'stream_options' is only allowed when 'stream' is true.", param="stream_options"
        )


MAX_LOGIT_BIAS_ENTRIES = 300
"""OpenAI's bound on the number of biased tokens per request."""


def check_logit_bias(bias: dict[str, float] | None) -> None:
    """Keys are token ids (decimal strings), values -100..100; whether an id is within the model's
    vocabulary is checked where the model is known (`Inference.generate`)."""
    if not bias:
        return
    if len(bias) > MAX_LOGIT_BIAS_ENTRIES:
        raise InvalidRequest(
            f"'logit_bias' may hold at most {MAX_LOGIT_BIAS_ENTRIES} entries, got {len(bias)}.",
            param="logit_bias", code="invalid_value")
    for key, value in bias.items():
        if not (key.isascii() and key.isdigit()):
            raise InvalidRequest(
                f"Invalid key in 'logit_bias': {key!r} is not a token id (a non-negative integer).",
                param="logit_bias", code="invalid_value")
        if not -100 <= value <= 100:
            raise InvalidRequest(
                f"Invalid value in 'logit_bias' for token {key}: must be between -100 and 100, got {value}.",
                param="logit_bias", code="invalid_value")


def check_max_tokens(param: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise InvalidRequest(f"'{param}' must be at least 1, got {value}.", param=param, code="invalid_value")


def check_chat(request: ChatCompletionRequest) -> None:
    check_sampling(request)
    check_max_tokens("max_tokens", request.max_tokens)
    check_max_tokens("max_completion_tokens", request.max_completion_tokens)
    if request.logprobs:
        raise _unsupported("logprobs", "'logprobs'")
    if request.top_logprobs:
        raise _unsupported("top_logprobs", "'top_logprobs'")
    if request.functions:
        raise _unsupported("functions", "Function calling")
    if request.function_call is not None and request.function_call != "none":
        raise _unsupported("function_call", "Function calling")
    # tools, tool_choice and response_format: checked by assistants.tools.chat.check_tool_fields.
    if request.modalities is not None and any(m != "text" for m in request.modalities):
        raise _unsupported("modalities", "Output modalities other than text")
    if request.audio is not None:
        raise _unsupported("audio", "Audio output")
    check_messages(request.messages)


def check_messages(messages: list[ChatMessageIn]) -> None:
    if not messages:
        raise InvalidRequest(
            "'messages' must contain at least one message.", param="messages", code="invalid_value"
        )
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role not in MESSAGE_ROLES:
            raise InvalidRequest(
                f"Invalid role '{message.role}' in {where}: expected one of system, developer, "
                f"user, assistant, tool.",
                param=f"{where}.role",
                code="invalid_value",
            )
        if message.role == "function" or message.function_call:
            raise _unsupported(where, "Legacy function messages (use tools)")
        if message.content is None:
            if message.role != "assistant":
                raise InvalidRequest(
                    f"{where} must have 'content'.", param=f"{where}.content", code="invalid_value"
                )
            continue
        if isinstance(message.content, list):
            for j, part in enumerate(message.content):
                kind = part.get("type")
                if kind not in TEXT_PART_TYPES and not (kind == "refusal" and message.role == "assistant"):
                    raise _unsupported(f"{where}.content[{j}]", f"Content part type '{kind}'")
                if kind == "text" and not isinstance(part.get("text"), str):
                    raise InvalidRequest(
                        f"{where}.content[{j}] needs a string 'text'.",
                        param=f"{where}.content[{j}].text",
                        code="invalid_value",
                    )


def check_completion(request: CompletionRequest) -> str | list[int]:
    """Validate a /v1/completions request; returns its single prompt (text, or token ids)."""
    check_sampling(request)
    check_max_tokens("max_tokens", request.max_tokens)
    if request.echo:
        raise _unsupported("echo", "'echo'")
    if request.suffix:
        raise _unsupported("suffix", "'suffix'")
    if request.logprobs is not None:
        raise _unsupported("logprobs", "'logprobs'")
    if request.best_of is not None and request.best_of != 1:
        raise InvalidRequest("Only best_of=1 is supported.", param="best_of", code="invalid_value")
    if request.top_k is not None and request.top_k < 0:
        raise InvalidRequest("'top_k' must be at least 0.", param="top_k", code="invalid_value")
    prompt = request.prompt
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]
    if isinstance(prompt, list):
        if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in prompt):
            raise _unsupported("prompt", "A prompt other than one string or one list of token ids")
    if not prompt:
        raise InvalidRequest("'prompt' must not be empty.", param="prompt", code="invalid_value")
    return prompt


def chat_messages(messages: list[ChatMessageIn]) -> list[dict[str, Any]]:
    """Messages as plain dicts for the chat template."""
    return [{k: v for k, v in msgspec.structs.asdict(m).items() if v is not None} for m in messages]
