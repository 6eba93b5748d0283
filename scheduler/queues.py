"""Job queue names, declared once for the services that enqueue and the workers that listen.

Imports nothing: any layer may name a queue.
"""

from __future__ import annotations

# Workers listen in this order: slot recomputation is interactive, mail is next.
SLOTS = "slots"
MAIL = "mail"
DEFAULT = "default"
ALL_QUEUES = (SLOTS, MAIL, DEFAULT)
