"""A calendar app in miniature: it applies iTIP mail (RFC 5546) in the order received and
says which events it then shows. Two readers of the same mail: icalendar with
recurring_ical_events here, and ical.js (Thunderbird's parser) through node (icaljs/).
Both also check what a client relies on: a SEQUENCE that never goes back, a CANCEL above
the REQUEST it undoes, no RECURRENCE-ID component without its master.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import recurring_ical_events

ICALJS = Path(__file__).resolve().parent / "icaljs"
LIBICAL_CHECK = Path(__file__).resolve().parent / "libical_check.py"
SYSTEM_PYTHON = "/usr/bin/python3"
# An instant as both readers print it.
Shown = tuple[str, str]


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CalendarApp:
    """One person's calendar: the events it holds, by UID (master first, then overrides)."""

    events: dict[str, list[icalendar.Event]] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)
    timezones: dict[str, icalendar.Timezone] = field(default_factory=dict)

    def apply(self, raw: bytes) -> None:
        """Apply one iTIP message as RFC 5546 §3.2 says an attendee's client does."""
        calendar = icalendar.Calendar.from_ical(raw)
        method = str(calendar["METHOD"])
        for tz in calendar.walk("VTIMEZONE"):
            self.timezones[str(tz["TZID"])] = tz
        by_uid: dict[str, list[icalendar.Event]] = {}
        for event in calendar.walk("VEVENT"):
            by_uid.setdefault(str(event["UID"]), []).append(event)
        for uid, components in by_uid.items():
            masters = [c for c in components if "RECURRENCE-ID" not in c]
            assert len(masters) <= 1, f"{uid}: more than one master in one message"
            sequence = max(int(c.get("SEQUENCE", 0)) for c in components)
            held = self.sequences.get(uid)
            if method == "REQUEST":
                assert masters, f"{uid}: an override without its master"
                assert held is None or sequence >= held, f"{uid}: SEQUENCE went back"
                self.events[uid] = [masters[0], *(c for c in components if c is not masters[0])]
                self.sequences[uid] = sequence
            elif method == "CANCEL":
                assert held is None or sequence > held, f"{uid}: CANCEL not above the REQUEST"
                if masters:
                    self.events.pop(uid, None)
                    self.sequences.pop(uid, None)
                else:  # one occurrence: an EXDATE on what they hold
                    for component in components:
                        stored = self.events.get(uid)
                        if stored:
                            stored[0].add("EXDATE", component["RECURRENCE-ID"].dt)
                            stored[:] = [
                                c
                                for c in stored
                                if c.get("RECURRENCE-ID") is None
                                or c["RECURRENCE-ID"].dt != component["RECURRENCE-ID"].dt
                            ]
            else:
                raise AssertionError(f"unexpected METHOD {method}")

    def as_calendar(self) -> bytes:
        """What the app holds, as one VCALENDAR."""
        calendar = icalendar.Calendar()
        calendar.add("PRODID", "-//replay//EN")
        calendar.add("VERSION", "2.0")
        for tz in self.timezones.values():
            calendar.add_component(tz)
        for components in self.events.values():
            for component in components:
                calendar.add_component(component)
        return calendar.to_ical()

    def shown(self, start: datetime, end: datetime) -> list[Shown]:
        """Every (start, end) in UTC the app shows between `start` and `end`."""
        calendar = icalendar.Calendar.from_ical(self.as_calendar())
        found = recurring_ical_events.of(calendar).between(start, end)
        return sorted(
            (_utc(event["DTSTART"].dt), _utc(event["DTEND"].dt))
            for event in found
            if str(event.get("STATUS", "CONFIRMED")) != "CANCELLED"
        )


def replay_with_icaljs(
    mail: dict[str, list[bytes]], start: datetime, end: datetime
) -> dict[str, list[Shown]]:
    """The same replay in node with ical.js: person -> shown (start, end) in UTC."""
    node = shutil.which("node")
    assert node, "node is missing: .ci/run installs it"
    assert (ICALJS / "node_modules" / "ical.js").is_dir(), (
        "run: npm ci --prefix tests/support/icaljs"
    )
    payload = {
        "start": _utc(start),
        "end": _utc(end),
        "mail": {person: [raw.decode("utf-8") for raw in raws] for person, raws in mail.items()},
    }
    result = subprocess.run(
        [node, str(ICALJS / "replay.mjs")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return {
        person: sorted(map(tuple, shown)) for person, shown in json.loads(result.stdout).items()
    }


def libical_errors(documents: list[bytes]) -> list[str]:
    """What libical (Evolution's parser, through GObject introspection in the system Python)
    reports as X-LIC-ERROR, or cannot parse at all, for each document."""
    result = subprocess.run(
        [SYSTEM_PYTHON, str(LIBICAL_CHECK)],
        input=json.dumps([doc.decode("utf-8") for doc in documents]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
