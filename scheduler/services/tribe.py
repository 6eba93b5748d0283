"""The mail pipeline looks for this module: importing it registers the nudge and digest mail."""

from scheduler.services import nudge_mail

__all__ = ["nudge_mail"]
