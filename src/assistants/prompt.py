"""Chat templates: messages in, the model's prompt text out, rendered in a sandboxed Jinja environment.

The template comes from, in order: the operator's `--chat-template` file, the GGUF's own
`tokenizer.chat_template`, or a built-in one chosen by the model architecture (the bundled Gemma
carries none). Message content reaches templates as plain strings (text parts joined), which is what
most published templates expect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from assistants.protocol.messages import content_text
from assistants.tools import render as tool_render

# Gemma's turn format. Unlike Gemma's published template this one does not insist on strict
# user/model alternation: an Assistants thread may hold several user messages in a row.
GEMMA_TEMPLATE = """{{ bos_token }}
{%- if messages and messages[0]['role'] in ('system', 'developer') -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- if first_user_prefix and (not loop_messages or loop_messages[0]['role'] != 'user') -%}
    {{ '<start_of_turn>user\n' + first_user_prefix | trim + '<end_of_turn>\n' }}
    {%- set first_user_prefix = '' -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}
    {{- message['content'] | trim }}
    {{- '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<start_of_turn>model\n' }}
{%- endif -%}"""

CHATML_TEMPLATE = """{%- for message in messages -%}
    {%- set role = 'system' if message['role'] == 'developer' else message['role'] -%}
    {{ '<|im_start|>' + role + '\n' + message['content'] + '<|im_end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<|im_start|>assistant\n' }}
{%- endif -%}"""

_GEMMA_ARCHITECTURES = {"gemma", "gemma2", "gemma3", "gemma3_text", "gemma3n", "gemma-embedding"}


class TemplateError(ValueError):
    """The template refused the conversation (its `raise_exception`) or failed to render."""


def builtin_template(architecture: str) -> str:
    return GEMMA_TEMPLATE if architecture.lower() in _GEMMA_ARCHITECTURES else CHATML_TEMPLATE


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


@dataclass(frozen=True)
class ChatTemplate:
    source: str
    bos_token: str
    eos_token: str
    origin: str
    """Where the template came from: `file`, `model` or `builtin:<name>` (for logs)."""
    supports_tools: bool = field(init=False, compare=False)
    """Whether the template reads `tools` (else tools are rendered by the generic fallback)."""
    _compiled: jinja2.Template = field(init=False, repr=False, compare=False)

    @classmethod
    def choose(
        cls,
        *,
        architecture: str,
        model_template: str | None,
        bos_token: str,
        eos_token: str,
        override: Path | None = None,
    ) -> ChatTemplate:
        if override is not None:
            return cls(override.read_text(encoding="utf-8"), bos_token, eos_token, "file")
        if model_template:
            return cls(model_template, bos_token, eos_token, "model")
        source = builtin_template(architecture)
        name = "gemma" if source is GEMMA_TEMPLATE else "chatml"
        return cls(source, bos_token, eos_token, f"builtin:{name}")

    def __post_init__(self) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        try:
            compiled = env.from_string(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"chat template syntax error: {exc}") from exc
        # Derived once from `source`; a frozen dataclass sets them through object.__setattr__.
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "supports_tools", tool_render.template_supports_tools(self.source))

    def render(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        if tools or tool_render.has_tool_content(messages):
            # Tool definitions, calls and results: the template's own way, or the generic fallback.
            if self.supports_tools:
                messages = tool_render.template_messages(messages)
            else:
                messages, tools = tool_render.fallback_messages(messages, tools), None
        try:
            return self._compiled.render(
                messages=[normalize_message(m) for m in messages],
                tools=list(tools) if tools else None,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except TemplateError:
            raise
        except jinja2.TemplateError as exc:
            raise TemplateError(f"chat template failed: {exc}") from exc


def normalize_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A copy whose `content` is a string: text parts are joined, a missing content becomes ''."""
    normalized = dict(message)
    normalized["content"] = content_text(message.get("content"))
    return normalized
