"""responses, their items and background event logs; conversations and their items

Revision ID: 0004_responses_conversations
Revises: 0003_files_vector_stores
Create Date: 2026-12-01 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_responses_conversations'
down_revision: str | None = '0003_files_vector_stores'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('responses',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('previous_response_id', sa.String(length=64), nullable=True),
    sa.Column('conversation_id', sa.String(length=64), nullable=True),
    sa.Column('store', sa.Boolean(), nullable=False),
    sa.Column('background', sa.Boolean(), nullable=False),
    sa.Column('tools', sa.JSON(), nullable=False),
    sa.Column('tool_choice', sa.JSON(), nullable=False),
    sa.Column('parallel_tool_calls', sa.Boolean(), nullable=False),
    sa.Column('text', sa.JSON(), nullable=False),
    sa.Column('truncation', sa.String(length=16), nullable=False),
    sa.Column('max_output_tokens', sa.Integer(), nullable=True),
    sa.Column('max_tool_calls', sa.Integer(), nullable=True),
    sa.Column('temperature', sa.Double(), nullable=True),
    sa.Column('top_p', sa.Double(), nullable=True),
    sa.Column('user', sa.String(length=256), nullable=True),
    sa.Column('prompt_cache_key', sa.String(length=256), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('output', sa.JSON(), nullable=False),
    sa.Column('usage', sa.JSON(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('incomplete_details', sa.JSON(), nullable=True),
    sa.Column('completed_at', sa.Integer(), nullable=True),
    sa.Column('cancel_requested_at', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('worker_id', sa.String(length=128), nullable=True),
    sa.Column('heartbeat_at', sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint('sequence'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index('ix_responses_status', ['status', 'sequence'], unique=False)

    op.create_table('response_items',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('item', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sequence')
    )
    with op.batch_alter_table('response_items', schema=None) as batch_op:
        batch_op.create_index('ix_response_items_order',
                              ['response_id', 'direction', 'created_at', 'sequence'], unique=False)
        batch_op.create_index('ix_response_items_id', ['id'], unique=False)

    op.create_table('response_events',
    sa.Column('response_id', sa.String(length=64), nullable=False),
    sa.Column('sequence_number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('response_id', 'sequence_number')
    )

    op.create_table('conversations',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('sequence'),
    sa.UniqueConstraint('id')
    )

    op.create_table('conversation_items',
    sa.Column('sequence', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('item', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sequence')
    )
    with op.batch_alter_table('conversation_items', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_items_order', ['conversation_id', 'created_at', 'sequence'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conversation_items', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_items_order')
    op.drop_table('conversation_items')
    op.drop_table('conversations')
    op.drop_table('response_events')
    with op.batch_alter_table('response_items', schema=None) as batch_op:
        batch_op.drop_index('ix_response_items_id')
        batch_op.drop_index('ix_response_items_order')
    op.drop_table('response_items')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index('ix_responses_status')
    op.drop_table('responses')
