"""Domain events and planner marks; kindred_answer replaces kindred_set_rsvp

Attendance records what happened (domain_events) and mail reacts; reminders and follow-ups
are planned from attendance shortly before they fall due (planner_marks) instead of being
written on every answer.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from scheduler.models import attendance_function

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_FUNCTIONS = """
DROP FUNCTION IF EXISTS kindred_set_rsvp(text, integer, text, timestamptz, boolean);
DROP FUNCTION IF EXISTS kindred_calendar_mail(gatherings, users, text, text, timestamptz);
DROP FUNCTION IF EXISTS kindred_sync_follow_through(gatherings, users, text, text, timestamptz);
"""


def upgrade() -> None:
    op.create_table(
        "domain_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("gathering_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["gathering_id"],
            ["gatherings.id"],
            name=op.f("fk_domain_events_gathering_id_gatherings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_domain_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_events")),
    )
    op.create_index(
        op.f("ix_domain_events_gathering_id"), "domain_events", ["gathering_id"], unique=False
    )
    op.create_table(
        "planner_marks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_planner_marks")),
    )
    op.execute(OLD_FUNCTIONS)
    # the text lives in scheduler/models/attendance_function.py; a later change to it comes
    # with a migration that installs it again
    attendance_function.install(op.get_bind())


def downgrade() -> None:
    attendance_function.uninstall(op.get_bind())
    op.drop_table("planner_marks")
    op.drop_index(op.f("ix_domain_events_gathering_id"), table_name="domain_events")
    op.drop_table("domain_events")
