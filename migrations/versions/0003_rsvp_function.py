"""kindred_set_rsvp (the API's RSVP fast path); outbox rows by gathering and person

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (gathering_id, recipient_id, kind, status) serves what (gathering_id) did, and finds
    # one person's mail for a gathering without reading the rest of the gathering's
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_gathering_recipient",
            ["gathering_id", "recipient_id", "kind", "status"],
            unique=False,
        )
        batch_op.drop_index("ix_outbox_messages_gathering_id")
    # This revision also installed kindred_set_rsvp, which 0004 replaced with kindred_answer
    # (scheduler/models/attendance_function.py); 0004 drops it where it exists.


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_messages_gathering_id", ["gathering_id"], unique=False)
        batch_op.drop_index("ix_outbox_gathering_recipient")
