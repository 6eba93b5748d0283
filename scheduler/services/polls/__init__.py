"""Polls: availability answers, slot ranking and scheduling the chosen (or best) time."""
