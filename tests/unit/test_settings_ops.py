"""Settings for auth, CORS and logging: flags, their environment mirrors, and the key file."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistants.__main__ import mask_url
from assistants.errors import StartupError
from assistants.settings import parse_cli_args


def serve(*argv: str, env: dict[str, str] | None = None):
    command, settings, _ = parse_cli_args(["serve", *argv], env or {})
    assert command == "serve"
    return settings


def test_defaults_are_closed_and_quiet() -> None:
    settings = serve()
    assert settings.api_keys == ()
    assert settings.cors_origins == ()
    assert settings.log_format == "text"
    assert settings.host == "127.0.0.1"


def test_repeatable_flags_collect_in_order() -> None:
    settings = serve("--api-key", "k1", "--api-key", "k2", "--cors-origin", "http://a.test",
                     "--cors-origin", "*")
    assert settings.api_keys == ("k1", "k2")
    assert settings.cors_origins == ("http://a.test", "*")


def test_environment_mirrors_singular_flag_as_comma_list() -> None:
    settings = serve(env={"ASSISTANTS_API_KEY": "k1, k2,", "ASSISTANTS_CORS_ORIGIN": "http://a.test",
                          "ASSISTANTS_LOG_FORMAT": "json"})
    assert settings.api_keys == ("k1", "k2")
    assert settings.cors_origins == ("http://a.test",)
    assert settings.log_format == "json"


def test_flag_wins_over_environment() -> None:
    assert serve("--api-key", "flag", env={"ASSISTANTS_API_KEY": "env"}).api_keys == ("flag",)


def test_key_file_adds_keys_skipping_blanks_and_comments(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# ops team\nfile-key-1\n\n  file-key-2  \n")
    settings = serve("--api-key", "flag-key", "--api-key-file", str(key_file))
    assert settings.api_keys == ("flag-key", "file-key-1", "file-key-2")


def test_keys_never_appear_in_repr() -> None:
    assert "s3cret" not in repr(serve("--api-key", "s3cret"))


@pytest.mark.parametrize("content", [None, "", "# only a comment\n"])
def test_unusable_key_file_is_a_one_line_error(tmp_path: Path, content: str | None) -> None:
    key_file = tmp_path / "keys"
    if content is not None:
        key_file.write_text(content)
    with pytest.raises(StartupError) as raised:
        serve("--api-key-file", str(key_file))
    message = str(raised.value)
    assert message.startswith("--api-key-file") and "\n" not in message


def test_key_with_space_is_rejected() -> None:
    with pytest.raises(StartupError, match="printable text without spaces"):
        serve("--api-key", "two words")


def test_bad_log_format_is_an_argparse_error() -> None:
    with pytest.raises(SystemExit) as raised:
        serve("--log-format", "xml")
    assert raised.value.code == 2


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+asyncpg://app:hunter2@db.local:5432/assistants",
     "postgresql+asyncpg://app:***@db.local:5432/assistants"),
    ("postgresql+asyncpg://app@db.local/assistants", "postgresql+asyncpg://app@db.local/assistants"),
    ("sqlite+aiosqlite:////data/assistants.db", "sqlite+aiosqlite:////data/assistants.db"),
    ("postgresql://u:p%40ss@[::1]:5432/x", "postgresql://u:***@[::1]:5432/x"),
])
def test_database_password_is_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown
