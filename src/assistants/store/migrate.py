"""Apply alembic migrations programmatically (`assistants serve` / `assistants migrate` call this).

The scripts ship inside the wheel at `assistants/_migrations` (pyproject force-includes `migrations/`);
from a source checkout they are the repository's top-level `migrations/`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def migrations_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "_migrations", _PACKAGE_DIR.parents[1] / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("alembic migrations not found (neither assistants/_migrations nor ./migrations)")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation would read a '%' in a password as a reference.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade_to_head(url: str) -> None:
    """Bring the database at `url` to the newest schema. Synchronous: call it outside an event loop."""
    command.upgrade(alembic_config(url), "head")
