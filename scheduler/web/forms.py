"""HTML forms → the same arguments the JSON API takes, validated by the same schemas.

Pages post plain form fields (local date-times, comma-separated interests); this module turns
them into API-shaped dicts, loads them with the API's marshmallow schemas and maps every error
back to the form field that caused it, so the page can show it next to that field.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import get_day_names
from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import Schema, ValidationError
from werkzeug.datastructures import MultiDict

from scheduler.api.errors import flatten_messages
from scheduler.domain.errors import InvalidInput, KindredError
from scheduler.domain.interests import normalise_interest
from scheduler.domain.language import translate_plural
from scheduler.domain.timezones import known_timezones, zone
from scheduler.extensions import db_session
from scheduler.web.language import current_locale, error_text

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
RECURRENCE_CHOICES = ("none", "weekly", "biweekly", "monthly_first", "monthly_last")
REMINDER_CHOICES = (
    (10080, lazy_gettext("1 week before")),
    (1440, lazy_gettext("1 day before")),
    (60, lazy_gettext("1 hour before")),
)
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
    "window_end": lazy_gettext("the latest end"),
    "window_start": lazy_gettext("the earliest start"),
    "starts_at": lazy_gettext("the start"),
    "poll": lazy_gettext("find a time"),
}


def in_form_words(message: str) -> str:
    """A service message with API field names replaced by what the form calls them."""
    for name, words in FIELD_WORDS.items():
        message = message.replace(name, str(words))
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
        self.add(API_TO_FORM.get(name, name.split(".")[0]), error_text(exc))

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


def committed(run: Callable[[], object], *, error_pages: Collection[int] = (404,)) -> bool:
    """Run a page form's use case and commit. A domain error is rolled back and flashed for
    the page the form returns to, or, for a status in `error_pages`, answered with its error
    page; False then."""
    session = db_session()
    try:
        run()
        session.commit()
    except KindredError as exc:
        session.rollback()
        if exc.status in error_pages:
            raise
        flash(error_text(exc), "error")
        return False
    return True


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
    unreadable = _("Give a date and time, e.g. 2026-06-03 18:00.")
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        state.add(name, unreadable)
        return None
    if len(text) <= len("2026-06-03"):  # a date alone would silently mean midnight
        state.add(name, unreadable)
        return None
    try:
        if naive.tzinfo is not None:
            return naive.astimezone(UTC)
        try:
            tz = zone(tz_name)
        except InvalidInput:
            return None  # the time zone field carries that error
        aware = naive.replace(tzinfo=tz)
        # a wall-clock time skipped by a daylight-saving jump does not survive the round trip
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
            state.add(
                name,
                _(
                    "That time does not exist in %(zone)s (the clocks change then).",
                    zone=tz_name,
                ),
            )
            return None
        return aware.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        state.add(name, unreadable)
        return None


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
        state.add(name, _("Give a whole number."))
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
    if weekday is None:
        return [
            ("none", _("Does not repeat")),
            ("weekly", _("Every week on the same weekday")),
            ("biweekly", _("Every 2 weeks on the same weekday")),
            ("monthly_first", _("First the same weekday of every month")),
            ("monthly_last", _("Last the same weekday of every month")),
        ]
    day = weekday_name(weekday)
    return [
        ("none", _("Does not repeat")),
        ("weekly", _("Every week on %(day)s", day=day)),
        ("biweekly", _("Every 2 weeks on %(day)s", day=day)),
        ("monthly_first", _("First %(day)s of every month", day=day)),
        ("monthly_last", _("Last %(day)s of every month", day=day)),
    ]


def weekday_name(weekday: int) -> str:
    """Monday (0) to Sunday (6) in full, as the request's language writes it."""
    return str(get_day_names("wide", locale=current_locale())[weekday])


def _keep_typed(form: MultiDict[str, str], state: FormState) -> None:
    """Remember what was typed, so the page shows it again next to any error."""
    values: dict[str, Any] = {key: form.get(key, "") for key in form}
    values["reminders"] = form.getlist("reminders")
    values["interests"] = form.get("interests", "")
    state.values = values


def _text(form: MultiDict[str, str], name: str) -> str:
    """A text field as typed, trimmed, with the browser's CRLF line breaks as LF."""
    return clean_text(form.get(name, ""))


def clean_text(text: str) -> str:
    """Text as stored: LF line breaks, no surrounding whitespace."""
    return text.replace("\r\n", "\n").strip()


def _details(form: MultiDict[str, str]) -> dict[str, Any]:
    """What a gathering is: title, description, location, interests, who sees it (blank:
    the default)."""
    body: dict[str, Any] = {
        "title": _text(form, "title"),
        "description": _text(form, "description"),
        "location": _text(form, "location"),
        "attendance_mode": form.get("attendance_mode", "").strip() or "in_person",
        "online_url": _text(form, "online_url"),
        "interests": split_interests(form.get("interests", "")),
    }
    visibility = form.get("visibility", "").strip()
    if visibility:
        body["visibility"] = visibility
    return body


# who sees a gathering (domain/access.py); the schema names a bad value
VISIBILITY_CHOICES = (
    ("", lazy_gettext("The default: the group's members in a group, everyone otherwise")),
    ("members", lazy_gettext("Members of the group only")),
    ("public", lazy_gettext("Everyone: listed publicly (the place stays for members in a group)")),
    ("unlisted", lazy_gettext("Anyone with the link, listed nowhere")),
)


def _settings(form: MultiDict[str, str], state: FormState, body: dict[str, Any]) -> str:
    """Time zone, duration, seats (blank = unlimited) and reminders into `body`; the zone."""
    tz_name = form.get("timezone", "").strip()
    body["timezone"] = tz_name
    for name in ("duration_minutes", "capacity"):
        body[name] = _int_or_none(form.get(name, ""), name, state)
    if body["duration_minutes"] is None:
        del body["duration_minutes"]
        if "duration_minutes" not in state.errors:
            state.add("duration_minutes", _("Choose how long it lasts."))
    reminders: list[int] = []
    for raw in form.getlist("reminders"):
        number = _int_or_none(raw, "reminders", state)
        if number is not None:
            reminders.append(number)
    body["reminders"] = reminders
    return tz_name


QUESTION_ROWS_BLANK = 2  # empty question rows the forms offer after the gathering's own


def _rsvp_settings(form: MultiDict[str, str], state: FormState, body: dict[str, Any]) -> None:
    """Guests per person (blank: leave as is) and the question rows (`question_text_<n>`,
    `question_required_<n>`, `question_id_<n>`; a row left empty is no question) into `body`."""
    guests = _int_or_none(form.get("max_guests", ""), "max_guests", state)
    if guests is not None:
        body["max_guests"] = guests
    rows = sorted(
        int(name.removeprefix("question_text_"))
        for name in form
        if name.startswith("question_text_") and name.removeprefix("question_text_").isdigit()
    )
    questions: list[dict[str, Any]] = []
    for n in rows:
        text = _text(form, f"question_text_{n}")
        if not text:
            continue
        question: dict[str, Any] = {
            "text": text,
            "required": bool(form.get(f"question_required_{n}")),
        }
        qid = _int_or_none(form.get(f"question_id_{n}", ""), "questions", state)
        if qid is not None:
            question["id"] = qid
        questions.append(question)
    if rows:
        body["questions"] = questions


def question_rows(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The question rows a form shows: those typed (or the gathering's), then empty ones."""
    if "question_rows" in values:
        return list(values["question_rows"])
    typed = sorted(
        int(name.removeprefix("question_text_"))
        for name in values
        if name.startswith("question_text_") and name.removeprefix("question_text_").isdigit()
    )
    rows = [
        {
            "id": values.get(f"question_id_{n}", ""),
            "text": values.get(f"question_text_{n}", ""),
            "required": bool(values.get(f"question_required_{n}")),
        }
        for n in typed
    ]
    rows = [row for row in rows if row["text"] or row["id"]]
    return rows + [{"id": "", "text": "", "required": False}] * QUESTION_ROWS_BLANK


def gathering_args(
    form: MultiDict[str, str], state: FormState, *, supports_recurrence: bool
) -> dict[str, Any]:
    """The new-gathering form → a GatheringArgsSchema body (ISO strings with offsets)."""
    _keep_typed(form, state)
    body = _details(form)
    _rsvp_settings(form, state, body)
    tz_name = _settings(form, state, body)
    group_id = _int_or_none(form.get("group_id", ""), "group_id", state)
    if group_id is not None:
        body["group_id"] = group_id
    mode = form.get("mode", "fixed")
    if mode == "fixed":
        starts_at = local_to_utc(form.get("starts_at", ""), tz_name, "starts_at", state)
        if starts_at is None and "starts_at" not in state.errors:
            state.add("starts_at", _("Choose when it starts."))
        elif starts_at is not None:
            body["starts_at"] = starts_at.isoformat()
            choice = form.get("recurrence", "none")
            if choice not in RECURRENCE_CHOICES:
                state.add("recurrence", _("Choose one of the options."))
            elif choice != "none":
                if not supports_recurrence:
                    state.add("recurrence", _("Repeating gatherings are not available yet."))
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
                state.add(name, _("Required to find a time."))
        for name in ("step_minutes", "min_attendees"):
            number = _int_or_none(form.get(name, ""), name, state)
            if number is not None:
                poll[name] = number
        if form.get("recurrence", "none") not in ("none", ""):
            state.add("recurrence", _("A repeating gathering needs a fixed time."))
        body["poll"] = poll
    else:
        state.add("mode", _("Choose a fixed time or find a time."))
    return body


# what the edit form shows of a gathering, and compares the submitted values against
EDIT_FIELDS = (
    "title",
    "description",
    "location",
    "attendance_mode",
    "online_url",
    "interests",
    "timezone",
    "duration_minutes",
    "capacity",
    "reminders",
    "starts_at",
    "visibility",
    "max_guests",
    "questions",
)
# a polling gathering gets its time, zone and length from the poll: only these change here
POLL_EDIT_FIELDS = (
    "title",
    "description",
    "location",
    "attendance_mode",
    "online_url",
    "interests",
    "visibility",
)
SCOPE_CHOICES = (
    ("this", lazy_gettext("Only this one")),
    ("following", lazy_gettext("This and all following ones")),
)


def edit_values(gathering: Any) -> dict[str, Any]:
    """A gathering as the edit form shows it (datetime-local in the gathering's zone)."""
    return {
        "title": gathering.title,
        "description": gathering.description,
        "location": gathering.location,
        "attendance_mode": gathering.attendance_mode,
        "online_url": gathering.online_url,
        "interests": ", ".join(i.name for i in gathering.interests),
        "timezone": gathering.timezone,
        "duration_minutes": str(gathering.duration_minutes),
        "capacity": "" if gathering.capacity is None else str(gathering.capacity),
        "reminders": [str(m) for m in gathering.reminders],
        "starts_at": utc_to_local_input(gathering.starts_at, zone(gathering.timezone)),
        "visibility": gathering.visibility,
        "max_guests": str(gathering.max_guests),
        "question_rows": [
            {"id": str(q["id"]), "text": q["text"], "required": bool(q.get("required"))}
            for q in gathering.questions
        ]
        + [{"id": "", "text": "", "required": False}] * QUESTION_ROWS_BLANK,
        "scope": "this",
    }


def edit_args(
    form: MultiDict[str, str], state: FormState, *, polling: bool, in_series: bool
) -> dict[str, Any]:
    """The edit form → a GatheringPatchArgsSchema body holding every field the form shows."""
    _keep_typed(form, state)
    body = _details(form)
    _rsvp_settings(form, state, body)
    if polling:
        return body
    tz_name = _settings(form, state, body)
    raw_start = form.get("starts_at", "")
    starts_at = local_to_utc(raw_start, tz_name, "starts_at", state)
    if starts_at is not None:
        body["starts_at"] = starts_at.isoformat()
    elif not raw_start.strip():
        state.add("starts_at", _("Choose when it starts."))
    if in_series:
        body["scope"] = form.get("scope", "this")
    return body


def changed_args(args: Mapping[str, Any], gathering: Any) -> dict[str, Any]:
    """The loaded edit arguments that differ from the gathering (scope left out).

    Equal in the sense a person means: text up to surrounding whitespace and line-break style,
    interests up to case and spacing, reminders as a set, the start to the minute the form shows.
    """
    changes: dict[str, Any] = {}
    for name in EDIT_FIELDS:
        if name in args and not _same(name, args[name], getattr(gathering, name)):
            changes[name] = args[name]
    return changes


def _same(name: str, new: Any, old: Any) -> bool:
    if name in ("title", "description", "location", "online_url"):
        return clean_text(new) == clean_text(old or "")
    if name == "interests":
        return {normalise_interest(n) for n in new} == {i.name for i in old}
    if name == "reminders":
        return set(new) == set(old)
    if name == "questions":

        def shape(q: Mapping[str, Any]) -> tuple[Any, str, bool]:
            return (q.get("id"), clean_text(q["text"]), bool(q.get("required")))

        return [shape(q) for q in new] == [shape(q) for q in old]
    if name == "starts_at" and old is not None:
        return bool(new == old.replace(second=0, microsecond=0) or new == old)
    return bool(new == old)


def duration_choices(current: int | None = None) -> list[tuple[int, str]]:
    """The "how long" options in words, with the gathering's own length if it is unusual."""
    minutes = sorted({*DURATION_CHOICES, *([current] if current else [])})
    return [(m, _duration_words(m)) for m in minutes]


def _duration_words(m: int) -> str:
    if m < 60:
        return translate_plural(current_locale(), "%(num)d minute", "%(num)d minutes", m)
    if m % 60:
        return _("%(hours)d h %(minutes)d min", hours=m // 60, minutes=m % 60)
    return translate_plural(current_locale(), "%(num)d hour", "%(num)d hours", m // 60)


def reminder_choices(current: Iterable[int] = ()) -> list[tuple[int, str]]:
    """The reminder checkboxes, plus any the gathering has that the form does not offer."""
    choices = {minutes: str(label) for minutes, label in REMINDER_CHOICES}
    for minutes in current:
        choices.setdefault(minutes, _("%(duration)s before", duration=_duration_words(minutes)))
    return sorted(choices.items(), reverse=True)


def labelled(choices: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """(value, label) choices with their labels in the request's language."""
    return [(value, str(label)) for value, label in choices]


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
