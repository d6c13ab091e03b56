"""error routing, compensation and idempotency keys (issue 6)

Error routing, compensation and loop-back need no schema: their decisions read task states and
results. Idempotency keys are kept in their own table.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_key',
    sa.Column('key', sa.String(length=250), nullable=False, comment='the rendered key (sha256:<hex> when longer than 250)'),
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('task_id', sa.String(length=250), nullable=False),
    sa.Column('try_number', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True, comment='what the try returned: later tries with the key succeed with it'),
    sa.Column('succeeded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_idempotency_key'))
    )


def downgrade() -> None:
    op.drop_table('idempotency_key')
