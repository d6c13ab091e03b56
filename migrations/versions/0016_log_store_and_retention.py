"""log store and retention: a try's log that outgrew its row is kept by a log store (the row keeps a
reference and the head); outside-event links found by run, for purging old runs

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-06 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('task_try') as batch:
        batch.add_column(sa.Column('log_ref', sa.String(length=1024), nullable=True,
                                   comment='where the whole log is kept once it outgrew the row (orchestrator.log_store); `log` keeps its head'))
        batch.add_column(sa.Column('log_size', sa.BigInteger(), nullable=True,
                                   comment="the whole log's length in characters when it is in the log store"))
    op.create_index('ix_external_event_run_dag_id_run_id', 'external_event_run', ['dag_id', 'run_id'])


def downgrade() -> None:
    op.drop_index('ix_external_event_run_dag_id_run_id', table_name='external_event_run')
    with op.batch_alter_table('task_try') as batch:
        batch.drop_column('log_size')
        batch.drop_column('log_ref')
