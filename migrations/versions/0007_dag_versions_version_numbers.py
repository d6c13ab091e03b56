"""dag versions: version numbers (issue 6)

Each DAG's versions are numbered 1, 2, 3... in the order they were first parsed; the versions
already stored are numbered by their created_at (ties by hash).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dag_version') as batch:
        batch.add_column(sa.Column(
            'version_number', sa.Integer(), nullable=True,
            comment='1, 2, 3... per DAG, in the order the versions were first parsed',
        ))
    op.execute(
        "UPDATE dag_version SET version_number = ("
        " SELECT COUNT(*) FROM dag_version earlier"
        " WHERE earlier.dag_id = dag_version.dag_id AND (earlier.created_at < dag_version.created_at"
        " OR (earlier.created_at = dag_version.created_at AND earlier.version_hash <= dag_version.version_hash)))"
    )
    with op.batch_alter_table('dag_version') as batch:
        batch.alter_column(
            'version_number', existing_type=sa.Integer(), nullable=False,
            existing_comment='1, 2, 3... per DAG, in the order the versions were first parsed',
        )
        batch.create_unique_constraint('uq_dag_version_dag_id_version_number', ['dag_id', 'version_number'])


def downgrade() -> None:
    with op.batch_alter_table('dag_version') as batch:
        batch.drop_constraint('uq_dag_version_dag_id_version_number', type_='unique')
        batch.drop_column('version_number')
