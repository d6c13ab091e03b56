"""run controls and deadlines: a run paused on its own (no new work dispatched until resumed);
the event log indexed by kind and time (the Late list reads the deadline misses)

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-06 06:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dag_run') as batch:
        batch.add_column(sa.Column('paused', sa.Boolean(), nullable=False, server_default=sa.false(),
                                   comment='a user paused this run: no new work is dispatched until resumed'))
    op.create_index('ix_event_kind_at', 'event', ['kind', 'at'])


def downgrade() -> None:
    op.drop_index('ix_event_kind_at', table_name='event')
    with op.batch_alter_table('dag_run') as batch:
        batch.drop_column('paused')
