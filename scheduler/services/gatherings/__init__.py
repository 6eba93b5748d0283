"""Gatherings and attendance: creating, changing and cancelling gatherings and series, and
who holds a seat (the one attendance rule, in the database function `kindred_answer`).

This package records what happened as domain events; it never imports mail or calendars.
"""
