"""Online and hybrid gatherings; check-ins between people who have met

gatherings gain attendance_mode (existing ones stay in person) and online_url (shown only to
organizers and people going); users gain allow_checkins (unset: it follows
`discoverable`) and checkin_nudges; checkins hold one proposed or agreed meeting
between two people, with the proposals, the answer, the gathering it became and, for a habit,
how many weeks until the next.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "gatherings",
        sa.Column("attendance_mode", sa.String(20), nullable=False, server_default="in_person"),
    )
    op.add_column(
        "gatherings",
        sa.Column("online_url", sa.String(2000), nullable=False, server_default=""),
    )
    op.add_column("users", sa.Column("allow_checkins", sa.Boolean(), nullable=True))
    op.add_column(
        "users",
        sa.Column("checkin_nudges", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "asker_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "invitee_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("every_weeks", sa.Integer(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("proposals", sa.JSON(), nullable=False),
        sa.Column("chosen_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "gathering_id",
            sa.Integer(),
            sa.ForeignKey("gatherings.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "previous_id",
            sa.Integer(),
            sa.ForeignKey("checkins.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("previous_id", name="uq_checkins_previous_id"),
    )
    op.create_index("ix_checkins_asker_invitee", "checkins", ["asker_id", "invitee_id"])
    op.create_index("ix_checkins_invitee", "checkins", ["invitee_id"])
    op.create_index("ix_checkins_status", "checkins", ["status"])


def downgrade() -> None:
    op.drop_table("checkins")
    op.drop_column("users", "checkin_nudges")
    op.drop_column("users", "allow_checkins")
    op.drop_column("gatherings", "online_url")
    op.drop_column("gatherings", "attendance_mode")
