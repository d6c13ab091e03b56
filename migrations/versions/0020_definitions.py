"""definitions: workflow documents created, versioned and published through the API

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'definition',
        sa.Column('id', sa.String(length=250), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('latest_version', sa.Integer(), nullable=False, comment='the highest version number'),
        sa.Column('published_version', sa.Integer(), nullable=True, comment='the version new runs use; null unless published'),
        sa.Column('created_by', sa.String(length=150), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=150), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('deprecated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_definition')),
    )
    op.create_table(
        'definition_version',
        sa.Column('definition_id', sa.String(length=250), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False, comment='draft, published, superseded or deprecated'),
        sa.Column('document', sa.JSON(), nullable=False, comment="the workflow document (orchestrator.declarative's shape)"),
        sa.Column('author', sa.String(length=150), nullable=False),
        sa.Column('message', sa.Text(), nullable=True, comment='what the author said of the change'),
        sa.Column('restored_from', sa.Integer(), nullable=True, comment='the version this one copies, when made by a restore'),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('published_at', sa.DateTime(), nullable=True),
        sa.Column('published_by', sa.String(length=150), nullable=True),
        sa.PrimaryKeyConstraint('definition_id', 'number', name=op.f('pk_definition_version')),
    )


def downgrade() -> None:
    op.drop_table('definition_version')
    op.drop_table('definition')
