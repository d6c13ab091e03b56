"""run priority (set at trigger time, by schedules too) and the votes an approval decision carries

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dag_run') as batch:
        batch.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0',
                                   comment='set at trigger time: ready tasks of higher-priority runs are submitted first'))
    with op.batch_alter_table('schedule') as batch:
        batch.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='0',
                                   comment='the priority of the runs it starts'))
    with op.batch_alter_table('approval_decision') as batch:
        batch.add_column(sa.Column('votes', sa.Float(), nullable=True,
                                   comment='the votes the decision carries: own plus delegated (null: 1)'))


def downgrade() -> None:
    with op.batch_alter_table('approval_decision') as batch:
        batch.drop_column('votes')
    with op.batch_alter_table('schedule') as batch:
        batch.drop_column('priority')
    with op.batch_alter_table('dag_run') as batch:
        batch.drop_column('priority')
