"""Site administrators and interest alias suggestions

Aliasing an interest changes what everyone finds under it, so only site administrators
(users.is_site_admin, set from the CLI) add or remove aliases; organizers suggest them
(interest_alias_suggestions) for an administrator to accept or reject.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("is_site_admin", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "interest_alias_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=60), nullable=False),
        sa.Column("interest_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("suggested_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_interest_alias_suggestions_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["interest_id"],
            ["interests.id"],
            name=op.f("fk_interest_alias_suggestions_interest_id_interests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["suggested_by_id"],
            ["users.id"],
            name=op.f("fk_interest_alias_suggestions_suggested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interest_alias_suggestions")),
    )
    op.create_index(
        "ix_interest_alias_suggestions_pending",
        "interest_alias_suggestions",
        ["alias", "interest_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("ix_interest_alias_suggestions_suggested_by_id"),
        "interest_alias_suggestions",
        ["suggested_by_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_interest_alias_suggestions_suggested_by_id"),
        table_name="interest_alias_suggestions",
    )
    op.drop_index(
        "ix_interest_alias_suggestions_pending", table_name="interest_alias_suggestions"
    )
    op.drop_table("interest_alias_suggestions")
    op.drop_column("users", "is_site_admin")
