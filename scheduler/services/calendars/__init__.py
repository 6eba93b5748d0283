"""Calendars: gatherings as iCalendar events, and the subscribable feeds."""
