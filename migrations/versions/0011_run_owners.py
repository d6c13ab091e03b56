"""run owners: which scheduler drives a running run, for several schedulers on PostgreSQL

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 01:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dag_run') as batch:
        batch.add_column(sa.Column('owner_job_id', sa.Integer(), nullable=True, comment='the scheduler (scheduler_job.id) that drives the running run'))


def downgrade() -> None:
    with op.batch_alter_table('dag_run') as batch:
        batch.drop_column('owner_job_id')
