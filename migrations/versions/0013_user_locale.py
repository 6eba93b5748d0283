"""People's languages: users gain locale (existing accounts keep English)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("locale", sa.String(10), nullable=False, server_default="en")
    )


def downgrade() -> None:
    op.drop_column("users", "locale")
