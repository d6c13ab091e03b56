"""schedules: named schedules beyond a DAG's own

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedule',
    sa.Column('name', sa.String(length=250), nullable=False),
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('cron', sa.String(length=100), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('conf', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('start_date', sa.DateTime(), nullable=True),
    sa.Column('end_date', sa.DateTime(), nullable=True),
    sa.Column('next_run_at', sa.DateTime(), nullable=True, comment='when its next run is due; None once past end_date'),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_schedule'))
    )
    op.create_index(op.f('ix_schedule_dag_id'), 'schedule', ['dag_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_schedule_dag_id'), table_name='schedule')
    op.drop_table('schedule')
