"""Airflow authoring (issue 12): variables, pushed XCom values, rendered templates of each try

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'variable',
        sa.Column('key', sa.String(length=250), nullable=False),
        sa.Column('value_enc', sa.Text(), nullable=False, comment='Fernet token of the value as JSON'),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_variable')),
    )
    op.create_table(
        'xcom',
        sa.Column('dag_id', sa.String(length=250), nullable=False),
        sa.Column('run_id', sa.String(length=250), nullable=False),
        sa.Column('task_id', sa.String(length=250), nullable=False),
        sa.Column('map_index', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=250), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('dag_id', 'run_id', 'task_id', 'map_index', 'key', name=op.f('pk_xcom')),
    )
    with op.batch_alter_table('task_try') as batch:
        batch.add_column(sa.Column(
            'rendered', sa.JSON(), nullable=True, comment="the try's templated fields as rendered (secrets masked), by field name",
        ))


def downgrade() -> None:
    with op.batch_alter_table('task_try') as batch:
        batch.drop_column('rendered')
    op.drop_table('xcom')
    op.drop_table('variable')
