"""change cursor: a commit counter and dag_run.change_seq, so a scheduler poll reads only what changed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 03:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    counter = op.create_table(
        'change_counter',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_change_counter')),
    )
    op.bulk_insert(counter, [{'id': 1, 'seq': 0}])
    with op.batch_alter_table('dag_run') as batch:
        batch.add_column(sa.Column(
            'change_seq', sa.BigInteger(), nullable=False, server_default='0',
            comment='change_counter.seq of the last commit that queued the run or changed it for the schedulers',
        ))
        batch.create_index('ix_dag_run_change_seq', ['change_seq'], unique=False)
        batch.create_index('ix_dag_run_owner_job_id', ['owner_job_id'], unique=False)
    with op.batch_alter_table('dag_run') as batch:
        batch.alter_column('change_seq', server_default=None)
    # the cron pass and the spec warm-up look for the DAGs due soon among thousands
    op.create_index('ix_dag_next_run_at', 'dag', ['next_run_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_dag_next_run_at', table_name='dag')
    with op.batch_alter_table('dag_run') as batch:
        batch.drop_index('ix_dag_run_owner_job_id')
        batch.drop_index('ix_dag_run_change_seq')
        batch.drop_column('change_seq')
    op.drop_table('change_counter')
