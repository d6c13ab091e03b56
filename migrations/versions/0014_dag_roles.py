"""DAG roles: per-DAG permissions (read, trigger, edit) by dag_id or tag, and their members

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dag_role',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_dag_role'))
    )
    op.create_table('dag_role_grant',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('permission', sa.String(length=20), nullable=False, comment='read, trigger or edit'),
    sa.Column('dag_id', sa.String(length=250), nullable=True, comment='the DAG granted, or null when a tag is'),
    sa.Column('tag', sa.String(length=100), nullable=True, comment='every DAG with this tag, or null when a DAG is'),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dag_role_grant'))
    )
    op.create_index(op.f('ix_dag_role_grant_role'), 'dag_role_grant', ['role'], unique=False)
    op.create_table('user_dag_role',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_user_dag_role'))
    )
    op.create_index(op.f('ix_user_dag_role_role'), 'user_dag_role', ['role'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_user_dag_role_role'), table_name='user_dag_role')
    op.drop_table('user_dag_role')
    op.drop_index(op.f('ix_dag_role_grant_role'), table_name='dag_role_grant')
    op.drop_table('dag_role_grant')
    op.drop_table('dag_role')
