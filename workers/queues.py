"""Queue names and job defaults, declared once. Imports nothing from the app."""

from __future__ import annotations

# Workers listen in this order: slot recomputation is interactive, mail is next.
SLOTS = "slots"
MAIL = "mail"
DEFAULT = "default"
ALL_QUEUES = (SLOTS, MAIL, DEFAULT)
