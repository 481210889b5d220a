"""Chat templates against golden prompt strings."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistants.prompt import ChatTemplate, TemplateError
from assistants.protocol.messages import content_text


def gemma() -> ChatTemplate:
    return ChatTemplate.choose(
        architecture="gemma3", model_template=None, bos_token="<bos>", eos_token="<eos>"
    )


def chatml(architecture: str = "qwen2") -> ChatTemplate:
    return ChatTemplate.choose(
        architecture=architecture, model_template=None, bos_token="<s>", eos_token="</s>"
    )


def test_gemma_single_user_turn() -> None:
    prompt = gemma().render([{"role": "user", "content": "Hi there"}])
    assert prompt == "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"


def test_gemma_system_is_folded_into_the_first_user_turn() -> None:
    prompt = gemma().render(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "Bye"},
        ]
    )
    assert prompt == (
        "<bos><start_of_turn>user\nBe brief.\n\nHello<end_of_turn>\n"
        "<start_of_turn>model\nHi!<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma_developer_counts_as_system_and_parts_are_joined() -> None:
    prompt = gemma().render(
        [
            {"role": "developer", "content": [{"type": "text", "text": "Rules"}]},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ],
        add_generation_prompt=False,
    )
    assert prompt == "<bos><start_of_turn>user\nRules\n\na\nb<end_of_turn>\n"


def test_gemma_allows_consecutive_user_turns_and_a_lone_system() -> None:
    assert gemma().render([{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]) == (
        "<bos><start_of_turn>user\none<end_of_turn>\n<start_of_turn>user\ntwo<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    assert gemma().render([{"role": "system", "content": "Only rules"}]) == (
        "<bos><start_of_turn>user\nOnly rules<end_of_turn>\n<start_of_turn>model\n"
    )


def test_gemma_chosen_for_every_gemma_architecture() -> None:
    for architecture in ("gemma", "gemma2", "gemma3"):
        template = ChatTemplate.choose(
            architecture=architecture, model_template=None, bos_token="<bos>", eos_token="<eos>"
        )
        assert template.origin == "builtin:gemma"


def test_chatml_fallback_for_other_architectures() -> None:
    template = chatml("llama")
    assert template.origin == "builtin:chatml"
    prompt = template.render(
        [
            {"role": "developer", "content": "Sys"},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": None},
        ]
    )
    assert prompt == (
        "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n<|im_end|>\n<|im_start|>assistant\n"
    )


def test_model_template_is_used_with_its_helpers() -> None:
    source = (
        "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}[bot]{% endif %}{{ eos_token }}"
    )
    template = ChatTemplate.choose(
        architecture="gemma3", model_template=source, bos_token="<s>", eos_token="</s>"
    )
    assert template.origin == "model"
    assert template.render([{"role": "user", "content": "x"}]) == "<s>[user]x[bot]</s>"


def test_raise_exception_becomes_template_error() -> None:
    source = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok"
    template = ChatTemplate.choose(architecture="x", model_template=source, bos_token="", eos_token="")
    assert template.render([{"role": "user", "content": ""}]) == "ok"
    with pytest.raises(TemplateError, match="first must be user"):
        template.render([{"role": "assistant", "content": ""}])


def test_strftime_now_is_available() -> None:
    template = ChatTemplate.choose(
        architecture="x", model_template="{{ strftime_now('%Y') }}", bos_token="", eos_token=""
    )
    assert template.render([]).isdigit()


def test_sandbox_blocks_unsafe_attribute_access() -> None:
    source = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    template = ChatTemplate.choose(architecture="x", model_template=source, bos_token="", eos_token="")
    with pytest.raises(TemplateError):
        template.render([{"role": "user", "content": "x"}])


def test_sandbox_keeps_messages_immutable() -> None:
    source = "{% set _ = messages.append({'role': 'user'}) %}done"
    template = ChatTemplate.choose(architecture="x", model_template=source, bos_token="", eos_token="")
    with pytest.raises(TemplateError):
        template.render([{"role": "user", "content": "x"}])


def test_override_file_wins(tmp_path: Path) -> None:
    path = tmp_path / "t.jinja"
    path.write_text("OVERRIDE {{ messages | length }}")
    template = ChatTemplate.choose(
        architecture="gemma3", model_template="MODEL", bos_token="", eos_token="", override=path
    )
    assert template.origin == "file"
    assert template.render([{"role": "user", "content": "x"}]) == "OVERRIDE 1"


def test_syntax_error_is_reported() -> None:
    with pytest.raises(TemplateError, match="syntax"):
        ChatTemplate.choose(architecture="x", model_template="{% for %}", bos_token="", eos_token="")


def test_content_text_ignores_non_text_parts() -> None:
    assert content_text([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}]) == "a"
