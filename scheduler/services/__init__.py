"""Use cases, one package per capability, importing one way (import-linter checks it):

    reactions ─► tribe ─► mail ─► calendars, polls ─► gatherings ─► groups ─► accounts
                                                          │               ─► interests
                                                          └─► events

Gatherings (with attendance) and polls record what happened as domain events (events.py),
in the transaction that changes them; mail, calendars and tribe react. Nothing imports a
package above it; `reactions` wires the in-process listeners once per process.
"""
