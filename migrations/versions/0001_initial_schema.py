"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 21:38:14.083723
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dag',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('fileloc', sa.Text(), nullable=False),
    sa.Column('is_paused', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('schedule', sa.String(length=100), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('version_hash', sa.String(length=32), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('last_parsed_at', sa.DateTime(), nullable=True),
    sa.Column('next_run_at', sa.DateTime(), nullable=True, comment='when the next scheduled run is due'),
    sa.PrimaryKeyConstraint('dag_id', name=op.f('pk_dag'))
    )
    op.create_table('dag_file',
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('mtime', sa.Float(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('dag_ids', sa.JSON(), nullable=False),
    sa.Column('last_parsed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('path', name=op.f('pk_dag_file'))
    )
    op.create_table('dag_run',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('run_type', sa.String(length=20), nullable=False),
    sa.Column('version_hash', sa.String(length=32), nullable=False),
    sa.Column('logical_date', sa.DateTime(), nullable=False),
    sa.Column('data_interval_start', sa.DateTime(), nullable=True),
    sa.Column('data_interval_end', sa.DateTime(), nullable=True),
    sa.Column('conf', sa.JSON(), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=False),
    sa.Column('start_date', sa.DateTime(), nullable=True),
    sa.Column('end_date', sa.DateTime(), nullable=True),
    sa.Column('ext_change', sa.Integer(), nullable=False, comment='bumped by user actions (clear, cancel) so the scheduler reloads the run'),
    sa.PrimaryKeyConstraint('dag_id', 'run_id', name=op.f('pk_dag_run'))
    )
    with op.batch_alter_table('dag_run', schema=None) as batch_op:
        batch_op.create_index('ix_dag_run_dag_id_logical_date', ['dag_id', 'logical_date'], unique=False)
        batch_op.create_index('ix_dag_run_state', ['state'], unique=False)

    op.create_table('dag_version',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('version_hash', sa.String(length=32), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('dag_id', 'version_hash', name=op.f('pk_dag_version'))
    )
    op.create_table('event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('dag_id', sa.String(length=250), nullable=True),
    sa.Column('run_id', sa.String(length=250), nullable=True),
    sa.Column('task_id', sa.String(length=250), nullable=True),
    sa.Column('map_index', sa.Integer(), nullable=True),
    sa.Column('try_number', sa.Integer(), nullable=True),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('to_state', sa.String(length=20), nullable=True),
    sa.Column('actor', sa.String(length=250), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event'))
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_dag_id_run_id', ['dag_id', 'run_id'], unique=False)

    op.create_table('import_error',
    sa.Column('filename', sa.String(length=1024), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('traceback', sa.Text(), nullable=False),
    sa.Column('timestamp', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('filename', name=op.f('pk_import_error'))
    )
    op.create_table('scheduler_job',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hostname', sa.String(length=250), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('last_heartbeat', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduler_job'))
    )
    op.create_table('task_instance',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('task_id', sa.String(length=250), nullable=False),
    sa.Column('map_index', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('try_number', sa.Integer(), nullable=False),
    sa.Column('max_tries', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.DateTime(), nullable=True),
    sa.Column('end_date', sa.DateTime(), nullable=True),
    sa.Column('next_retry_at', sa.DateTime(), nullable=True),
    sa.Column('worker', sa.String(length=250), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('dag_id', 'run_id', 'task_id', 'map_index', name=op.f('pk_task_instance'))
    )
    with op.batch_alter_table('task_instance', schema=None) as batch_op:
        batch_op.create_index('ix_task_instance_state', ['state'], unique=False)

    op.create_table('task_try',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.Column('task_id', sa.String(length=250), nullable=False),
    sa.Column('map_index', sa.Integer(), nullable=False),
    sa.Column('try_number', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('start_date', sa.DateTime(), nullable=True),
    sa.Column('end_date', sa.DateTime(), nullable=True),
    sa.Column('worker', sa.String(length=250), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('log', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('dag_id', 'run_id', 'task_id', 'map_index', 'try_number', name=op.f('pk_task_try'))
    )


def downgrade() -> None:
    op.drop_table('task_try')
    with op.batch_alter_table('task_instance', schema=None) as batch_op:
        batch_op.drop_index('ix_task_instance_state')

    op.drop_table('task_instance')
    op.drop_table('scheduler_job')
    op.drop_table('import_error')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_dag_id_run_id')

    op.drop_table('event')
    op.drop_table('dag_version')
    with op.batch_alter_table('dag_run', schema=None) as batch_op:
        batch_op.drop_index('ix_dag_run_state')
        batch_op.drop_index('ix_dag_run_dag_id_logical_date')

    op.drop_table('dag_run')
    op.drop_table('dag_file')
    op.drop_table('dag')
