"""gathering_interests.scheduled_start: upcoming gatherings by tag from one index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gathering_interests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_gathering_interests_upcoming",
            ["interest_id", "scheduled_start", "gathering_id"],
            unique=False,
        )
    # fill it from the gatherings: their start while they are scheduled, else NULL
    op.execute(
        "UPDATE gathering_interests SET scheduled_start = ("
        "SELECT CASE WHEN gatherings.status = 'scheduled' THEN gatherings.starts_at END "
        "FROM gatherings WHERE gatherings.id = gathering_interests.gathering_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("gathering_interests", schema=None) as batch_op:
        batch_op.drop_index("ix_gathering_interests_upcoming")
        batch_op.drop_column("scheduled_start")
