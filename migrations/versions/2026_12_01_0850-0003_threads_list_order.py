"""threads list order: the index GET /v1/threads pages by

Revision ID: 0003_threads_list_order
Revises: 0002
Create Date: 2026-12-01 07:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0003_threads_list_order'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.create_index('ix_threads_order', ['created_at', 'sequence'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('threads', schema=None) as batch_op:
        batch_op.drop_index('ix_threads_order')
