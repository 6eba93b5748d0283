"""Tribe: recommendations, people you have met, nudges and digests that keep groups alive."""
