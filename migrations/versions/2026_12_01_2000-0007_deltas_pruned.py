"""runs.deltas_pruned and responses.deltas_pruned: whether the per-token delta events of a run or
background response that ended more than `--delta-retention` ago were deleted (store.pruning), so
the pruner visits each one once

Revision ID: 0007_deltas_pruned
Revises: 0006_response_announcements
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_deltas_pruned'
down_revision: str | None = '0006_response_announcements'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('runs', 'responses'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('deltas_pruned', sa.Boolean(), server_default=sa.false(),
                                          nullable=False))


def downgrade() -> None:
    for table in ('responses', 'runs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('deltas_pruned')
