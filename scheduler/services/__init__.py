"""Use cases, one package per capability, importing one way (checked by import-linter):

    tribe ─► mail ─► calendars ─► polls ─► gatherings ─► groups ─► accounts ─► interests
                                                  │
                                                  └─► events (what happened, recorded in
                                                      the database in the same transaction)

Gatherings (with attendance) and polls record domain events; mail, calendars and tribe react
to them. Nothing below imports anything above it.
"""
