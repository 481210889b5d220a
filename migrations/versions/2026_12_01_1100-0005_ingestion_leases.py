"""vector store files: an ingestion job's lease (worker_id, heartbeat_at), as runs and responses have;
responses: the request's `include` (a background response's worker honours it)

Revision ID: 0005_ingestion_leases
Revises: 0004_responses_conversations
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_ingestion_leases'
down_revision: str | None = '0004_responses_conversations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('vector_store_files') as batch:
        batch.add_column(sa.Column('worker_id', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('heartbeat_at', sa.Float(), nullable=True))
    with op.batch_alter_table('responses') as batch:
        batch.add_column(sa.Column('include', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('responses') as batch:
        batch.drop_column('include')
    with op.batch_alter_table('vector_store_files') as batch:
        batch.drop_column('heartbeat_at')
        batch.drop_column('worker_id')
