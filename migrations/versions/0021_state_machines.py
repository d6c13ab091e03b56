"""state-machine workflows: where a machine run stands, its run data, its business correlation id

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 15:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dag_run') as batch:
        batch.add_column(sa.Column('correlation_id', sa.String(length=250), nullable=True,
                                   comment='a business identifier given at trigger time or taken from an event'))
        batch.add_column(sa.Column('machine', sa.JSON(), nullable=True,
                                   comment="a state machine run's current state and awaited actions (orchestrator.machine.MachineRun)"))
        batch.add_column(sa.Column('run_data', sa.JSON(), nullable=True,
                                   comment='the named run variables tasks and actions set (each change is an event)'))
    op.create_index('ix_dag_run_correlation_id', 'dag_run', ['correlation_id'])


def downgrade() -> None:
    op.drop_index('ix_dag_run_correlation_id', table_name='dag_run')
    with op.batch_alter_table('dag_run') as batch:
        batch.drop_column('run_data')
        batch.drop_column('machine')
        batch.drop_column('correlation_id')
