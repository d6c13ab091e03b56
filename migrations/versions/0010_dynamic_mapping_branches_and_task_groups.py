"""dynamic mapping, branches and task groups (issue 6)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the schema changes land
from alembic import op  # noqa: F401


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
