"""dynamic mapping, branches and task groups (issue 6)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # mapped instances use task_instance.map_index (in the key since 0001); branches need their decision kept
    with op.batch_alter_table('task_instance') as batch:
        batch.add_column(sa.Column(
            'follow', sa.JSON(), nullable=True,
            comment="after a success: the direct downstream task ids to follow (a branch's decision); null: all",
        ))


def downgrade() -> None:
    with op.batch_alter_table('task_instance') as batch:
        batch.drop_column('follow')
