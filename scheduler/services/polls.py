"""Availability polls: the window rules of a "find a time" gathering."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from scheduler.domain.errors import InvalidInput
from scheduler.models import Gathering, Poll

MAX_WINDOW = timedelta(days=90)


def validate_poll_window(
    *,
    window_start: datetime,
    window_end: datetime,
    step_minutes: int,
    duration_minutes: int,
    deadline: datetime | None,
    now: datetime,
) -> None:
    """Raise InvalidInput (naming the field) unless the window can hold the gathering."""
    if window_end <= window_start:
        raise InvalidInput("window_end must be after window_start.", field="poll.window_end")
    if window_end - window_start > MAX_WINDOW:
        raise InvalidInput("A poll window spans at most 90 days.", field="poll.window_end")
    if window_end - window_start < timedelta(minutes=duration_minutes):
        raise InvalidInput(
            f"The window is shorter than the gathering ({duration_minutes} minutes).",
            field="duration_minutes",
        )
    if window_end <= now:
        raise InvalidInput("The poll window is entirely in the past.", field="poll.window_end")
    if step_minutes not in (5, 10, 15, 30, 60):
        raise InvalidInput("Must be one of 5, 10, 15, 30 or 60.", field="poll.step_minutes")
    if deadline is not None and deadline <= now:
        raise InvalidInput("The deadline is in the past.", field="poll.deadline")
    if deadline is not None and deadline > window_end:
        raise InvalidInput("The deadline must not be after the window ends.", field="poll.deadline")


def attach_poll(gathering: Gathering, poll_args: dict[str, Any], *, now: datetime) -> Poll:
    """Validate the window and give the gathering its poll."""
    validate_poll_window(
        window_start=poll_args["window_start"],
        window_end=poll_args["window_end"],
        step_minutes=poll_args["step_minutes"],
        duration_minutes=gathering.duration_minutes,
        deadline=poll_args.get("deadline"),
        now=now,
    )
    poll = Poll(
        window_start=poll_args["window_start"],
        window_end=poll_args["window_end"],
        step_minutes=poll_args["step_minutes"],
        deadline=poll_args.get("deadline"),
        min_attendees=poll_args.get("min_attendees", 1),
    )
    gathering.poll = poll
    return poll
