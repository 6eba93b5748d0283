"""Groups that run themselves: join policy, pending members, gathering visibility

groups gain join_policy (existing groups stay open) and pending_mailed_at (the daily mail to
organizers about pending requests); group_members gain state (existing members are members);
gatherings gain visibility. Existing gatherings stay public: they were created when
everything was public, and people may hold links, feeds and calendar entries that rely on
that; new gatherings in a group default to members. Each group's creator keeps (or regains)
the organizer role, so no group is left without one. kindred_answer is installed again: it
now refuses answers to a group's gathering from anyone outside the group.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-04
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from scheduler.models import attendance_function

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "groups", sa.Column("join_policy", sa.String(20), nullable=False, server_default="open")
    )
    op.add_column("groups", sa.Column("pending_mailed_at", sa.DateTime(timezone=True)))
    op.add_column(
        "group_members",
        sa.Column("state", sa.String(20), nullable=False, server_default="member"),
    )
    op.create_index(
        "ix_group_members_pending",
        "group_members",
        ["group_id"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.add_column(
        "gatherings",
        sa.Column("visibility", sa.String(20), nullable=False, server_default="public"),
    )
    op.execute(
        "INSERT INTO group_members (group_id, user_id, role, state, joined_at)"
        " SELECT g.id, g.organizer_id, 'organizer', 'member', g.created_at FROM groups g"
        " ON CONFLICT (group_id, user_id) DO UPDATE SET role = 'organizer', state = 'member'"
    )
    attendance_function.install(op.get_bind())


def downgrade() -> None:
    op.drop_column("gatherings", "visibility")
    op.drop_index("ix_group_members_pending", table_name="group_members")
    op.drop_column("group_members", "state")
    op.drop_column("groups", "pending_mailed_at")
    op.drop_column("groups", "join_policy")
    # the function keeps refusing outsiders, without the member state that no longer exists;
    # its text as of this revision is 0010's snapshot (today's refers to later columns)
    as_of_here = _attendance_sql_before_0010()
    without_state = as_of_here.replace("\n                            AND m.state = 'member'", "")
    assert without_state != as_of_here
    op.get_bind().exec_driver_sql(without_state)


def _attendance_sql_before_0010() -> str:
    path = Path(__file__).with_name("0010_guests_questions.py")
    spec = importlib.util.spec_from_file_location("kindred_migration_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.PREVIOUS_SQL)
