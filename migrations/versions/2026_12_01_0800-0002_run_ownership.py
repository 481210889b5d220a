"""run ownership: a claimed run carries its worker and a heartbeat; the event log gets 64-bit seq and
float created_at

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('cancel_requested_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('isolated', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('crashes', sa.Integer(), server_default='0', nullable=False))
    # SQLite copies the table to change a type: keep AUTOINCREMENT (seqs are never reused).
    with op.batch_alter_table('run_events', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('created_at', existing_type=sa.Integer(), type_=sa.Float(),
                              existing_nullable=False)
        if op.get_bind().dialect.name != 'sqlite':
            batch_op.alter_column('seq', existing_type=sa.Integer(), type_=sa.BigInteger(),
                                  existing_nullable=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER SEQUENCE IF EXISTS run_events_seq_seq AS bigint")


def downgrade() -> None:
    with op.batch_alter_table('run_events', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('created_at', existing_type=sa.Float(), type_=sa.Integer(),
                              existing_nullable=False)
    with op.batch_alter_table('runs', schema=None) as batch_op:
        for column in ('crashes', 'isolated', 'cancel_requested_at', 'heartbeat_at', 'worker_id'):
            batch_op.drop_column(column)
