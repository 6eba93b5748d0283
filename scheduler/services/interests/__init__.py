"""Interests: the shared vocabulary of tags (normalising, aliases, search)."""
