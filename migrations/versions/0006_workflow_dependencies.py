"""workflow dependencies: waiting runs, parent/child run links, assets and outside events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('dag_run') as batch:
        batch.add_column(sa.Column('state_reason', sa.Text(), nullable=True, comment='why the run waits, or why it failed without a task failing'))
        batch.add_column(sa.Column('waiting_since', sa.DateTime(), nullable=True, comment='when the run began waiting on its dependencies'))
        batch.add_column(sa.Column('parent_dag_id', sa.String(length=250), nullable=True, comment='the run whose task started this one'))
        batch.add_column(sa.Column('parent_run_id', sa.String(length=250), nullable=True))
        batch.add_column(sa.Column('parent_task_id', sa.String(length=250), nullable=True))
        batch.create_index('ix_dag_run_parent', ['parent_dag_id', 'parent_run_id'], unique=False)
    op.create_table('asset_event',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('uri', sa.String(length=500), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('source_dag_id', sa.String(length=250), nullable=True),
    sa.Column('source_run_id', sa.String(length=250), nullable=True),
    sa.Column('source_task_id', sa.String(length=250), nullable=True),
    sa.Column('actor', sa.String(length=250), nullable=False),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_event'))
    )
    op.create_index('ix_asset_event_uri_id', 'asset_event', ['uri', 'id'], unique=False)
    op.create_table('asset_cursor',
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('uri', sa.String(length=500), nullable=False),
    sa.Column('last_event_id', _ID, nullable=False),
    sa.PrimaryKeyConstraint('dag_id', 'uri', name=op.f('pk_asset_cursor'))
    )
    op.create_table('external_event',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=250), nullable=True, comment="the sender's id: posting it again changes nothing"),
    sa.Column('type', sa.String(length=250), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=250), nullable=False),
    sa.Column('processed_at', sa.DateTime(), nullable=True, comment="when the scheduler matched it against the DAGs' triggers"),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_event')),
    sa.UniqueConstraint('event_id', name=op.f('uq_external_event_event_id'))
    )
    op.create_index('ix_external_event_processed_at', 'external_event', ['processed_at'], unique=False)
    op.create_table('external_event_run',
    sa.Column('event_pk', _ID, nullable=False),
    sa.Column('dag_id', sa.String(length=250), nullable=False),
    sa.Column('run_id', sa.String(length=250), nullable=False),
    sa.PrimaryKeyConstraint('event_pk', 'dag_id', 'run_id', name=op.f('pk_external_event_run'))
    )


def downgrade() -> None:
    op.drop_table('external_event_run')
    op.drop_index('ix_external_event_processed_at', table_name='external_event')
    op.drop_table('external_event')
    op.drop_table('asset_cursor')
    op.drop_index('ix_asset_event_uri_id', table_name='asset_event')
    op.drop_table('asset_event')
    with op.batch_alter_table('dag_run') as batch:
        batch.drop_index('ix_dag_run_parent')
        batch.drop_column('parent_task_id')
        batch.drop_column('parent_run_id')
        batch.drop_column('parent_dag_id')
        batch.drop_column('waiting_since')
        batch.drop_column('state_reason')
