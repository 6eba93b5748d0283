"""Interest tags and the association tables that attach them to users, groups, gatherings."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models.base import Base


class Interest(Base):
    """A normalised tag such as "radio astronomy"."""

    __tablename__ = "interests"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


def _association(name: str, owner_table: str, owner_column: str, *extra: object) -> Table:
    return Table(
        name,
        Base.metadata,
        Column(
            owner_column,
            ForeignKey(f"{owner_table}.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column(
            "interest_id",
            ForeignKey("interests.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        *extra,
    )


user_interests = _association("user_interests", "users", "user_id")
group_interests = _association("group_interests", "groups", "group_id")
gathering_interests = _association(
    "gathering_interests",
    "gatherings",
    "gathering_id",
    # a copy of the gathering's start while it is scheduled (NULL for polls, cancelled and
    # completed ones), kept by models/gathering.py on every flush: with the index below,
    # "upcoming gatherings tagged X" is an index-only range scan, no gatherings join
    Column("scheduled_start", DateTime(timezone=True)),
    Index("ix_gathering_interests_upcoming", "interest_id", "scheduled_start", "gathering_id"),
)
