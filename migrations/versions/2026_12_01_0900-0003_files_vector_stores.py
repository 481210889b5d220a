"""files, vector stores, their files and file batches

Revision ID: 0003_files_vector_stores
Revises: 0003_threads_list_order
Create Date: 2026-12-01 07:50:55.604889
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003_files_vector_stores'
down_revision: str | None = '0003_threads_list_order'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('files',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('bytes', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=512), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.Integer(), nullable=True),
    sa.Column('status_details', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('sequence'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.create_index('ix_files_order', ['created_at', 'sequence'], unique=False)

    op.create_table('vector_stores',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('description', sa.String(length=512), nullable=True),
    sa.Column('last_active_at', sa.Integer(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('expires_after', sa.JSON(), nullable=True),
    sa.Column('expires_at', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('sequence'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('vector_stores', schema=None) as batch_op:
        batch_op.create_index('ix_vector_stores_order', ['created_at', 'sequence'], unique=False)

    op.create_table('vector_store_file_batches',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('vector_store_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['vector_store_id'], ['vector_stores.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sequence'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('vector_store_file_batches', schema=None) as batch_op:
        batch_op.create_index('ix_vector_store_file_batches_store', ['vector_store_id'], unique=False)

    op.create_table('vector_store_files',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('vector_store_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('usage_bytes', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.JSON(), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=True),
    sa.Column('chunking_strategy', sa.JSON(), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['id'], ['files.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vector_store_id'], ['vector_stores.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sequence'),
    sa.UniqueConstraint('vector_store_id', 'id', name='uq_vector_store_files_store_file')
    )
    with op.batch_alter_table('vector_store_files', schema=None) as batch_op:
        batch_op.create_index('ix_vector_store_files_file', ['id'], unique=False)
        batch_op.create_index('ix_vector_store_files_order', ['vector_store_id', 'created_at', 'sequence'],
                              unique=False)
        batch_op.create_index('ix_vector_store_files_status', ['status', 'sequence'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vector_store_files', schema=None) as batch_op:
        batch_op.drop_index('ix_vector_store_files_status')
        batch_op.drop_index('ix_vector_store_files_order')
        batch_op.drop_index('ix_vector_store_files_file')

    op.drop_table('vector_store_files')
    with op.batch_alter_table('vector_store_file_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_vector_store_file_batches_store')

    op.drop_table('vector_store_file_batches')
    with op.batch_alter_table('vector_stores', schema=None) as batch_op:
        batch_op.drop_index('ix_vector_stores_order')

    op.drop_table('vector_stores')
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_index('ix_files_order')

    op.drop_table('files')
