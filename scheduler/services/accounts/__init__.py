"""Accounts: people, their passwords, API tokens, feed tokens and profiles."""
