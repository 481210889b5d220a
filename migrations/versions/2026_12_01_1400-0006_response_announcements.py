"""run_events carries background responses' announcements (`response.queued`, `response.cancelling`):
a nullable `response_id` (its rows go with the response), and `thread_id` nullable for them; so a
worker in any process hears of a response queued or cancelled elsewhere as it hears of runs

Revision ID: 0006_response_announcements
Revises: 0005_ingestion_leases
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_response_announcements'
down_revision: str | None = '0005_ingestion_leases'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARTIAL = sa.text('response_id IS NOT NULL')


def upgrade() -> None:
    # SQLite copies the table: keep AUTOINCREMENT (seqs are never reused).
    with op.batch_alter_table('run_events', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('response_id', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key('fk_run_events_response_id', 'responses', ['response_id'], ['id'],
                                    ondelete='CASCADE')
        batch_op.alter_column('thread_id', existing_type=sa.String(length=64), nullable=True)
        batch_op.create_index('ix_run_events_response', ['response_id'], unique=False,
                              sqlite_where=_PARTIAL, postgresql_where=_PARTIAL)


def downgrade() -> None:
    op.execute("DELETE FROM run_events WHERE thread_id IS NULL")
    with op.batch_alter_table('run_events', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_index('ix_run_events_response')
        batch_op.alter_column('thread_id', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint('fk_run_events_response_id', type_='foreignkey')
        batch_op.drop_column('response_id')
