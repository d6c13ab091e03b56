"""connections (secrets encrypted with Fernet)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('connection',
    sa.Column('conn_id', sa.String(length=250), nullable=False),
    sa.Column('conn_type', sa.String(length=50), nullable=False),
    sa.Column('host', sa.String(length=500), nullable=True),
    sa.Column('port', sa.Integer(), nullable=True),
    sa.Column('login', sa.String(length=500), nullable=True),
    sa.Column('password_enc', sa.Text(), nullable=True, comment='Fernet token of the password'),
    sa.Column('schema_name', sa.String(length=500), nullable=True, comment='database name, path or URL path'),
    sa.Column('extra_enc', sa.Text(), nullable=True, comment='Fernet token of the extras as JSON'),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('conn_id', name=op.f('pk_connection'))
    )


def downgrade() -> None:
    op.drop_table('connection')
