"""error routing, compensation and idempotency keys (issue 6)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the schema changes land
from alembic import op  # noqa: F401


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
