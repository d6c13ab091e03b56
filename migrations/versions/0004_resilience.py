"""resilience: circuit breakers and pools

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('circuit_breaker',
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('window', sa.JSON(), nullable=False, comment='[epoch seconds, succeeded] of recent outcomes'),
    sa.Column('opened_at', sa.DateTime(), nullable=True),
    sa.Column('probe', sa.String(length=600), nullable=True, comment='the task let through while half-open'),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_circuit_breaker'))
    )
    op.create_table('pool',
    sa.Column('name', sa.String(length=250), nullable=False),
    sa.Column('slots', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_pool'))
    )


def downgrade() -> None:
    op.drop_table('pool')
    op.drop_table('circuit_breaker')
