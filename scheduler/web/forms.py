"""HTML forms → the same arguments the JSON API takes, validated by the same schemas.

Pages post plain form fields (local date-times, comma-separated interests); this module turns
them into API-shaped dicts, loads them with the API's marshmallow schemas and maps every error
back to the form field that caused it, so the page can show it next to that field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict

from scheduler.api.errors import flatten_messages
from scheduler.domain.errors import InvalidInput, KindredError
from scheduler.domain.timezones import known_timezones, zone

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RECURRENCE_CHOICES = ("none", "weekly", "biweekly", "monthly_first", "monthly_last")
REMINDER_CHOICES = ((10080, "1 week before"), (1440, "1 day before"), (60, "1 hour before"))
DURATION_CHOICES = (30, 45, 60, 90, 120, 180, 240)
STEP_CHOICES = (15, 30, 60)
# API field (dotted) → the form field that shows its error
API_TO_FORM = {
    "poll.window_start": "window_start",
    "poll.window_end": "window_end",
    "poll.step_minutes": "step_minutes",
    "poll.deadline": "deadline",
    "poll.min_attendees": "min_attendees",
    "poll": "mode",
    "_schema": "form",
}
# API field names inside service messages, in the words the form uses
FIELD_WORDS = {
    "window_end": "the latest end",
    "window_start": "the earliest start",
    "starts_at": "the start",
    "poll": "find a time",
}


def in_form_words(message: str) -> str:
    """A service message with API field names replaced by what the form calls them."""
    for name, words in FIELD_WORDS.items():
        message = message.replace(name, words)
    return message[:1].upper() + message[1:]


@dataclass
class FormState:
    """What a form shows: the values typed (kept on error) and an error per field."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        """Record the first error for a field."""
        self.errors.setdefault(name, in_form_words(message))

    def add_error(self, exc: KindredError, default_field: str = "form") -> None:
        """Show a service error next to the field it names."""
        name = exc.field or default_field
        self.add(API_TO_FORM.get(name, name.split(".")[0]), exc.message)

    def add_validation(self, exc: ValidationError) -> None:
        """Show marshmallow messages next to their fields."""
        for name, texts in flatten_messages(exc.messages).items():
            target = API_TO_FORM.get(name, name.split(".")[0])
            self.add(target, " ".join(texts))

    @property
    def ok(self) -> bool:
        """True when no field has an error."""
        return not self.errors


def load_with(schema: Schema, data: Mapping[str, Any], state: FormState) -> dict[str, Any] | None:
    """Load `data` with an API schema; on errors record them in `state` and return None."""
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        state.add_validation(exc)
        return None


def split_interests(raw: str) -> list[str]:
    """ "Chess, board games" → ["Chess", "board games"] (the service normalises them)."""
    return [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]


def timezone_choices() -> list[str]:
    """IANA zone names for a <select>, common areas first, alphabetical within."""
    return sorted(
        (name for name in known_timezones() if "/" in name or name == "UTC"),
        key=lambda name: (name.startswith(("Etc/", "SystemV/", "US/", "Canada/")), name),
    )


def local_to_utc(raw: str, tz_name: str, name: str, state: FormState) -> datetime | None:
    """A datetime-local value ("2026-06-03T18:00") in `tz_name` → aware UTC, or an error."""
    text = raw.strip()
    if not text:
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        state.add(name, "Give a date and time, e.g. 2026-06-03 18:00.")
        return None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    try:
        tz = zone(tz_name)
    except InvalidInput:
        return None  # the time zone field carries that error
    aware = naive.replace(tzinfo=tz)
    # a wall-clock time skipped by a daylight-saving jump does not survive the round trip
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        state.add(name, f"That time does not exist in {tz_name} (the clocks change then).")
        return None
    return aware.astimezone(UTC)


def utc_to_local_input(value: datetime | None, tz: ZoneInfo) -> str:
    """An aware datetime as a datetime-local value in `tz`."""
    if value is None:
        return ""
    return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


def _int_or_none(raw: str, name: str, state: FormState) -> int | None:
    text = raw.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        state.add(name, "Give a whole number.")
        return None


def recurrence_rule(choice: str, start_local: datetime, count: int | None) -> str | None:
    """The plain-words choice ("every week", "first Thursday") as RRULE text."""
    day = WEEKDAYS[start_local.weekday()]
    rules = {
        "weekly": f"FREQ=WEEKLY;BYDAY={day}",
        "biweekly": f"FREQ=WEEKLY;INTERVAL=2;BYDAY={day}",
        "monthly_first": f"FREQ=MONTHLY;BYDAY=1{day}",
        "monthly_last": f"FREQ=MONTHLY;BYDAY=-1{day}",
    }
    rule = rules.get(choice)
    if rule is None:
        return None
    return f"{rule};COUNT={count}" if count else rule


def recurrence_labels(weekday: int | None) -> list[tuple[str, str]]:
    """The recurrence <select> options in plain words (weekday of the start when known)."""
    day = WEEKDAY_NAMES[weekday] if weekday is not None else "the same weekday"
    return [
        ("none", "Does not repeat"),
        ("weekly", f"Every week on {day}"),
        ("biweekly", f"Every 2 weeks on {day}"),
        ("monthly_first", f"First {day} of every month"),
        ("monthly_last", f"Last {day} of every month"),
    ]


def gathering_args(
    form: MultiDict[str, str], state: FormState, *, supports_recurrence: bool
) -> dict[str, Any]:
    """The new-gathering form → a GatheringArgsSchema body (ISO strings with offsets)."""
    values = {key: form.get(key, "") for key in form}
    values["reminders"] = form.getlist("reminders")
    values["interests"] = form.get("interests", "")
    state.values = values
    tz_name = form.get("timezone", "").strip()
    body: dict[str, Any] = {
        "title": form.get("title", "").strip(),
        "description": form.get("description", "").strip(),
        "location": form.get("location", "").strip(),
        "timezone": tz_name,
        "interests": split_interests(form.get("interests", "")),
    }
    for name in ("duration_minutes", "capacity", "group_id"):
        number = _int_or_none(form.get(name, ""), name, state)
        if number is not None:
            body[name] = number
    if "duration_minutes" not in body and "duration_minutes" not in state.errors:
        state.add("duration_minutes", "Choose how long it lasts.")
    reminders: list[int] = []
    for raw in form.getlist("reminders"):
        number = _int_or_none(raw, "reminders", state)
        if number is not None:
            reminders.append(number)
    body["reminders"] = reminders
    mode = form.get("mode", "fixed")
    if mode == "fixed":
        starts_at = local_to_utc(form.get("starts_at", ""), tz_name, "starts_at", state)
        if starts_at is None and "starts_at" not in state.errors:
            state.add("starts_at", "Choose when it starts.")
        elif starts_at is not None:
            body["starts_at"] = starts_at.isoformat()
            choice = form.get("recurrence", "none")
            if choice not in RECURRENCE_CHOICES:
                state.add("recurrence", "Choose one of the options.")
            elif choice != "none":
                if not supports_recurrence:
                    state.add("recurrence", "Repeating gatherings are not available yet.")
                else:
                    count = _int_or_none(
                        form.get("recurrence_count", ""), "recurrence_count", state
                    )
                    local = starts_at.astimezone(ZoneInfo(tz_name))
                    body["recurrence"] = recurrence_rule(choice, local, count)
    elif mode == "poll":
        poll: dict[str, Any] = {}
        for name in ("window_start", "window_end", "deadline"):
            value = local_to_utc(form.get(name, ""), tz_name, name, state)
            if value is not None:
                poll[name] = value.isoformat()
            elif name != "deadline" and name not in state.errors:
                state.add(name, "Required to find a time.")
        for name in ("step_minutes", "min_attendees"):
            number = _int_or_none(form.get(name, ""), name, state)
            if number is not None:
                poll[name] = number
        if form.get("recurrence", "none") not in ("none", ""):
            state.add("recurrence", "A repeating gathering needs a fixed time.")
        body["poll"] = poll
    else:
        state.add("mode", "Choose a fixed time or find a time.")
    return body


def availability_intervals(
    form: MultiDict[str, str], window_start: datetime, cell_minutes: int, cell_count: int
) -> list[dict[str, Any]]:
    """The painted grid (fields `c<index>` = yes / ifneedbe) → merged intervals for the service."""
    step = timedelta(minutes=cell_minutes)
    marks: dict[int, str] = {}
    for key, value in form.items(multi=True):
        if not key.startswith("c") or value not in ("yes", "ifneedbe"):
            continue
        try:
            index = int(key[1:])
        except ValueError:
            continue
        if 0 <= index < cell_count:
            marks[index] = value
    return merge_cells(marks.items(), window_start, step)


def merge_cells(
    marks: Iterable[tuple[int, str]], window_start: datetime, step: timedelta
) -> list[dict[str, Any]]:
    """Consecutive cells with the same preference become one interval."""
    intervals: list[dict[str, Any]] = []
    previous: tuple[int, str] | None = None
    for index, preference in sorted(marks):
        start = window_start + index * step
        if previous and previous == (index - 1, preference):
            intervals[-1]["end"] = start + step
        else:
            intervals.append({"start": start, "end": start + step, "preference": preference})
        previous = (index, preference)
    return intervals
