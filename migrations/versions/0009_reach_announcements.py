"""Reach: announcement choices, organizer updates, comments and messages

users gain announcements ("each", the default for everyone, "weekly" or "none") and
organizer_updates (off); gatherings gain a discussion (gathering_comments) and the messages
their organizers send (gathering_messages).

Revision ID: 0009
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("announcements", sa.String(10), nullable=False, server_default="each")
    )
    op.add_column(
        "users",
        sa.Column("organizer_updates", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "gathering_comments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "gathering_id",
            sa.Integer(),
            sa.ForeignKey("gatherings.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "author_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_gathering_comments_gathering", "gathering_comments", ["gathering_id", "id"])
    op.create_index("ix_gathering_comments_author_id", "gathering_comments", ["author_id"])
    op.create_index("ix_gathering_comments_created_at", "gathering_comments", ["created_at"])
    op.create_table(
        "gathering_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "gathering_id",
            sa.Integer(),
            sa.ForeignKey("gatherings.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "sender_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_gathering_messages_gathering", "gathering_messages", ["gathering_id", "id"])
    op.create_index("ix_gathering_messages_sender_id", "gathering_messages", ["sender_id"])


def downgrade() -> None:
    op.drop_table("gathering_messages")
    op.drop_table("gathering_comments")
    op.drop_column("users", "organizer_updates")
    op.drop_column("users", "announcements")
