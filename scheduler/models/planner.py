"""How far ahead planners have materialised their work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.models.base import Base


class PlannerMark(Base):
    """One planner's progress: its work is materialised up to `until` (e.g. reminders)."""

    __tablename__ = "planner_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
