"""`upgrade head` on an empty database yields exactly the schema the models declare."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from assistants.store.migrate import alembic_config, migrations_dir, upgrade_to_head
from assistants.store.models import Base


def test_upgrade_head_matches_models(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{db}")
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                 Base.metadata)
        tables = set(sa.inspect(connection).get_table_names())
    engine.dispose()
    assert diffs == []
    assert {"assistants", "threads", "messages", "runs", "run_steps", "run_events"} <= tables


def test_upgrade_is_idempotent_and_at_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade_to_head(url)
    upgrade_to_head(url)  # a restart re-runs it: nothing to do, no error
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with sqlite3.connect(tmp_path / "m.db") as connection:
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == head


def test_run_events_seq_is_never_reused(tmp_path: Path) -> None:
    """AUTOINCREMENT: deleting the newest events must not hand their seq out again (SSE ids)."""
    upgrade_to_head(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    with sqlite3.connect(tmp_path / "m.db") as connection:
        sql = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'run_events'").fetchone()[0]
    assert "AUTOINCREMENT" in sql.upper()


def test_migrations_found_in_checkout() -> None:
    assert (migrations_dir() / "env.py").is_file()
    assert any(Path(migrations_dir(), "versions").glob("*.py"))
